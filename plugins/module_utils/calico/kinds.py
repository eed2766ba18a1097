# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Calico resource kinds the collection manages: one ``Kind`` per kind.

A kind's names follow libcalico-go (v3.31): ``plural`` is the segment of its etcd key
(libcalico-go/lib/backend/model/resource.go: registerResourceInfo, lower-cased) and the plural of
its CustomResourceDefinition in group crd.projectcalico.org (libcalico-go/lib/backend/k8s/resources/
<kind>.go). Its field table and rules are in resource_validation.py (``SPECS``), its defaults in
defaults.py (``CREATE_DEFAULTS``): adding a kind is an entry in each of the three.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors, show

API_VERSION = 'projectcalico.org/v3'
CRD_GROUP = 'crd.projectcalico.org'
CRD_VERSION = 'v1'
CRD_API_VERSION = CRD_GROUP + '/' + CRD_VERSION


class Kind:
    """One resource kind.

    name        'IPPool'
    plural      'ippools': the CRD plural and the etcd key segment
    namespaced  False for every kind handled now
    read_only   True for ClusterInformation (written by Calico itself)
    node        True for Node: in the kubernetes datastore it is the Kubernetes Node
                (annotations projectcalico.org/* and labels), not a CRD object
    managed_spec  None when the module owns the whole spec, else the spec fields it manages
                (Node: only 'bgp'; its labels are merged, the rest is Calico's)
    names       a name every resource of the kind must have (KubeControllersConfiguration,
                ClusterInformation: 'default'), or None
    """

    __slots__ = ('name', 'plural', 'namespaced', 'read_only', 'node', 'managed_spec', 'names')

    def __init__(self, name, plural, namespaced=False, read_only=False, node=False, managed_spec=None,
                 names=None):
        self.name = name
        self.plural = plural
        self.namespaced = namespaced
        self.read_only = read_only
        self.node = node
        self.managed_spec = managed_spec
        self.names = names

    @property
    def list_kind(self):
        return self.name + 'List'

    def __repr__(self):
        return 'Kind(%s)' % self.name


KINDS = (
    Kind('BGPConfiguration', 'bgpconfigurations'),
    Kind('BGPPeer', 'bgppeers'),
    Kind('BGPFilter', 'bgpfilters'),
    Kind('IPPool', 'ippools'),
    Kind('IPReservation', 'ipreservations'),
    Kind('FelixConfiguration', 'felixconfigurations'),
    Kind('KubeControllersConfiguration', 'kubecontrollersconfigurations', names=('default',)),
    Kind('Node', 'nodes', node=True, managed_spec=('bgp',)),
    Kind('ClusterInformation', 'clusterinformations', read_only=True, names=('default',)),
)

_BY_NAME = dict((kind.name, kind) for kind in KINDS)
_BY_PLURAL = dict((kind.plural, kind) for kind in KINDS)


def names():
    return [kind.name for kind in KINDS]


def lookup(kind):
    """The Kind called ``kind`` ('IPPool'); ``ValidationErrors`` naming it when there is none."""
    found = _BY_NAME.get(kind) if isinstance(kind, str) else None
    if found is None:
        hint = ''
        if isinstance(kind, str):
            for known in KINDS:
                if kind.lower() in (known.name.lower(), known.plural, known.plural[:-1]):
                    hint = ' (did you mean %s?)' % known.name
        raise ValidationErrors(['kind: %s is not a Calico resource kind this collection manages%s; known kinds: %s'
                                % (show(kind), hint, ', '.join(names()))])
    return found


def by_plural(plural):
    """The Kind whose CRD plural / etcd key segment is ``plural``, or None."""
    return _BY_PLURAL.get(plural)
