# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the live objects a manifest names, one GET each, through the collection's Kubernetes
client (datastore.kubernetes.KubernetesClient): inside the module, so that the objects (CRDs of
hundreds of kilobytes, Secrets with keys) never pass through Ansible's variables and logs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import NotFound

# Plurals that the English rule below gets wrong (none among the kinds of Calico's manifests yet).
PLURALS = {'Endpoints': 'endpoints'}


def plural(kind):
    """The resource name of a kind: DaemonSet -> daemonsets, NetworkPolicy -> networkpolicies."""
    if kind in PLURALS:
        return PLURALS[kind]
    lower = kind.lower()
    if lower.endswith('y') and lower[-2:-1] not in 'aeiou':
        return lower[:-1] + 'ies'
    if lower.endswith(('s', 'x', 'ch', 'sh')):
        return lower + 'es'
    return lower + 's'


def split_api_version(api_version):
    """('apps', 'v1') of 'apps/v1'; ('', 'v1') of the core 'v1'."""
    if '/' in api_version:
        group, version = api_version.split('/', 1)
        return group, version
    return '', api_version


def read_objects(client, items):
    """The live objects named by ``items`` ([apiVersion, kind, namespace, name] each) that exist, in
    that order; those that do not exist are left out."""
    found = []
    for api_version, kind, namespace, name in items:
        group, version = split_api_version(api_version)
        try:
            found.append(client.get(group, version, plural(kind), name, namespace=namespace or None))
        except NotFound:
            continue
    return found


def settings(kubeconfig=None, context=None):
    """Connection settings for the Kubernetes API from a kubeconfig and context (each resolved as
    the collection's modules resolve them when not given)."""
    options = dict((name, None) for name in connection.CONNECTION_OPTIONS)
    options.update(datastore='kubernetes', kubeconfig=kubeconfig, context=context, api='auto')
    return connection.resolve(options)
