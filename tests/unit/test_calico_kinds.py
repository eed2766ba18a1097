# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kind registry: names, plurals, and that every kind has its field table."""

import pytest


from ansible_collections.k8snet.calico.plugins.module_utils.calico import defaults, kinds, resource_validation
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors


@pytest.mark.parametrize('name, plural', [
    ('BGPConfiguration', 'bgpconfigurations'), ('BGPPeer', 'bgppeers'), ('BGPFilter', 'bgpfilters'),
    ('IPPool', 'ippools'), ('IPReservation', 'ipreservations'), ('FelixConfiguration', 'felixconfigurations'),
    ('KubeControllersConfiguration', 'kubecontrollersconfigurations'), ('Node', 'nodes'),
    ('ClusterInformation', 'clusterinformations'),
])
def test_lookup(name, plural):
    kind = kinds.lookup(name)
    assert (kind.name, kind.plural, kind.namespaced) == (name, plural, False)
    assert kinds.by_plural(plural) is kind
    assert kind.list_kind == name + 'List'


def test_special_kinds():
    assert [kind.name for kind in kinds.KINDS if kind.read_only] == ['ClusterInformation']
    assert [kind.name for kind in kinds.KINDS if kind.node] == ['Node']
    assert kinds.lookup('Node').managed_spec == ('bgp',)
    assert kinds.lookup('KubeControllersConfiguration').names == ('default',)


@pytest.mark.parametrize('name, message', [
    ('ippool', "kind: 'ippool' is not a Calico resource kind this collection manages (did you mean IPPool?)"),
    ('BGPPeers', "kind: 'BGPPeers' is not a Calico resource kind this collection manages (did you mean BGPPeer?)"),
    ('NetworkPolicy', "kind: 'NetworkPolicy' is not a Calico resource kind this collection manages; known kinds"),
    (None, 'kind: null is not a Calico resource kind'),
])
def test_unknown_kind_is_named(name, message):
    with pytest.raises(ValidationErrors) as info:
        kinds.lookup(name)
    assert info.value.messages[0].startswith(message)


def test_every_kind_has_a_field_table_and_known_defaults():
    assert set(resource_validation.SPECS) == set(kinds.names())
    assert set(defaults.CREATE_DEFAULTS) <= set(kinds.names())
    assert set(defaults.SERVER_DEFAULTS) <= set(kinds.names())


def test_felix_table_has_every_field_of_v3_31_0():
    # api/pkg/apis/projectcalico/v3/felixconfig.go at v3.31.0: 168 fields in FelixConfigurationSpec.
    assert len(resource_validation.FELIX_CONFIGURATION) == 168
