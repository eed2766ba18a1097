# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore transport of the collection: where calicoctl would connect (``connection``), and
the clients that carry requests to the Kubernetes API (``kubernetes``) and to etcd v3 (``etcd``).

Modules that use the Calico store open it with ``calico.session.with_store``; the transport alone::

    from ansible_collections.k8snet.calico.plugins.module_utils import datastore
    from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors

    argument_spec.update(connection.argument_spec())
    ...
    try:
        settings = connection.resolve(module.params)
        client = datastore.connect(settings, read_only=module.check_mode)
    except errors.MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error)
    except errors.DatastoreError as exc:
        module.fail_json(msg=str(exc))
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def connect(settings, read_only=False, **kwargs):
    """A ``KubernetesClient`` or an ``EtcdClient`` for resolved ``connection.Settings``.
    ``read_only=True`` (check mode) makes writes that would change the datastore raise
    ``errors.ReadOnlyViolation`` before sending anything (Kubernetes dry runs are allowed)."""
    if settings.datastore == 'etcdv3':
        from ansible_collections.k8snet.calico.plugins.module_utils.datastore.etcd import EtcdClient
        return EtcdClient.from_settings(settings, read_only=read_only, **kwargs)
    from ansible_collections.k8snet.calico.plugins.module_utils.datastore.kubernetes import KubernetesClient
    return KubernetesClient.from_settings(settings, read_only=read_only, **kwargs)
