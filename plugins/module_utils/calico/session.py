# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One datastore session of a module: resolve the connection options (doc fragment
k8snet.calico.datastore), connect, open the Calico store, run the module's work, close. The
transport's errors become the module's failure here, once for every module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.k8snet.calico.plugins.module_utils import datastore
from ansible_collections.k8snet.calico.plugins.module_utils.calico.store import open_store
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors


def with_store(module, work, read_only, failures=()):
    """``work(settings, client, store)``'s result and the requests sent, by verb. Fails the module
    (fail_json, which exits) on a missing library, a datastore error, or an exception of a type in
    ``failures`` (its text is the message); the client is closed in every case. ``read_only``
    makes any write raise (check mode)."""
    client = None
    try:
        settings = connection.resolve(module.params)
        client = datastore.connect(settings, read_only=read_only)
        store = open_store(settings, client, api=module.params['api'])
        result = work(settings, client, store)
        return result, dict(client.requests)
    except errors.MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error)
    except tuple(failures) + (errors.DatastoreError,) as exc:
        module.fail_json(msg=str(exc), requests=dict(client.requests) if client is not None else {})
    finally:
        if client is not None:
            client.close()
