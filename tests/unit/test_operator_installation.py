# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The operator install method's render (module_utils/operator/installation.py): the Installation
and APIServer rendered from the inventory, validated with jsonschema against the openAPIV3Schema of
the upstream operator CRDs of every release in the test data, and the customised
tigera-operator.yaml."""

import copy
import functools
import os

import jsonschema
import pytest
import yaml

from calico_testdata import REPO, read_upstream, releases, upstream_file

from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.operator import installation


def sample_params():
    """inventory/sample/group_vars/all.yml, by the short names the render takes."""
    with open(os.path.join(REPO, 'inventory', 'sample', 'group_vars', 'all.yml')) as handle:
        values = yaml.safe_load(handle)
    return {key[len('calico_'):]: value for key, value in values.items() if key.startswith('calico_')}


@functools.lru_cache(maxsize=None)
def crd_schemas(release):
    if not os.path.isfile(upstream_file(release, 'operator-crds.yaml')):
        pytest.fail('operator-crds.yaml of %s missing from the test data' % release)
    return installation.crd_schemas(document.Manifest(read_upstream(release, 'operator-crds.yaml')))


def validate(obj, release):
    """jsonschema (Draft 4, what the API server's OpenAPI v3 subset is closest to) against the
    upstream CRD's openAPIV3Schema; unknown fields are errors, as the API server prunes them."""
    schema = copy.deepcopy(crd_schemas(release)[obj['kind']])

    def closed(node):
        if isinstance(node, dict):
            if node.get('type') == 'object' and 'properties' in node \
                    and not node.get('x-kubernetes-preserve-unknown-fields') and 'additionalProperties' not in node:
                node['additionalProperties'] = False
            for value in node.values():
                closed(value)
        elif isinstance(node, list):
            for value in node:
                closed(value)
    closed(schema)
    # metadata is the API server's to check (its schema here is just type: object).
    schema['properties']['metadata'] = {'type': 'object'}
    jsonschema.Draft4Validator(schema).validate(obj)


VARIANTS = {
    'sample': {},
    'vxlan': {'encapsulation': 'VXLAN', 'ip_pools': [{'name': 'default-ipv4-ippool', 'cidr': '10.244.0.0/16'}]},
    'vxlan-cross-subnet': {'encapsulation': 'VXLANCrossSubnet', 'ip_pools': []},
    'none': {'encapsulation': 'None'},
    'ipip-cross-subnet-mtu': {'encapsulation': 'IPIPCrossSubnet', 'mtu': 1400},
    'first-found': {'ip_autodetection_method': 'first-found'},
    'kubernetes-internal-ip': {'ip_autodetection_method': 'kubernetes-internal-ip'},
    'skip-interface': {'ip_autodetection_method': 'skip-interface=docker.*,virbr.*'},
    'cidr': {'ip_autodetection_method': 'cidr=10.10.0.0/16,10.20.0.0/16'},
    'can-reach': {'ip_autodetection_method': 'can-reach=10.10.0.1'},
    'ipv6': {'ip6_autodetection_method': 'interface=bond4',
             'ip_pools': [{'name': 'v4', 'cidr': '10.244.0.0/16', 'nat_outgoing': True, 'node_selector': 'rack == "a"'},
                          {'name': 'v6', 'cidr': 'fd00:10:244::/56', 'block_size': 122}]},
    'no-registry-apiserver': {'image_registry': '', 'operator_apiserver': True},
}


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_installation_fits_the_upstream_crd(release, variant):
    params = dict(sample_params(), **VARIANTS[variant])
    render = installation.build(params)
    validate(render.installation, release)
    if render.apiserver is not None:
        validate(render.apiserver, release)
    # The collection's own schema check agrees with jsonschema on these.
    errors = v.ErrorCollector()
    installation.check_against_crds(render, crd_schemas(release), errors)
    assert errors.messages == []


def test_sample_inventory_translation():
    render = installation.build(sample_params())
    spec = render.installation['spec']
    assert render.installation['metadata'] == {'name': 'default'}
    assert spec['registry'] == 'registry.example.internal/'
    assert spec['calicoNetwork'] == {
        'bgp': 'Enabled',
        'ipPools': [{'name': 'default-ipv4-ippool', 'cidr': '10.244.0.0/16', 'encapsulation': 'IPIP',
                     'natOutgoing': 'Disabled', 'blockSize': 26}],
        'nodeAddressAutodetectionV4': {'interface': 'bond4|eth0'}}
    # The IPPools are the operator's; BGP configuration and peers stay ours.
    assert [(r['kind'], r['metadata']['name']) for r in render.resources] == [
        ('BGPConfiguration', 'default'), ('BGPPeer', 'tor-switch')]
    assert render.apiserver is None
    assert any('calico_bandwidth_plugin is ignored' in warning for warning in render.warnings)


@pytest.mark.parametrize('method,expected', [
    ('first-found', {'firstFound': True}),
    ('kubernetes-internal-ip', {'kubernetes': 'NodeInternalIP'}),
    ('interface=bond4,eth0', {'interface': 'bond4|eth0'}),
    ('interface=eth.*', {'interface': 'eth.*'}),
    ('skip-interface=docker.*, virbr.*', {'skipInterface': 'docker.*|virbr.*'}),
    ('cidr=10.10.0.0/16,10.20.0.0/16', {'cidrs': ['10.10.0.0/16', '10.20.0.0/16']}),
    ('can-reach=www.example.com', {'canReach': 'www.example.com'}),
])
def test_autodetection_forms(method, expected):
    assert installation.autodetection(method) == expected
    render = installation.build(dict(sample_params(), ip_autodetection_method=method))
    assert render.installation['spec']['calicoNetwork']['nodeAddressAutodetectionV4'] == expected


@pytest.mark.parametrize('encapsulation,bgp,pool', [
    ('IPIP', 'Enabled', 'IPIP'), ('IPIPCrossSubnet', 'Enabled', 'IPIPCrossSubnet'),
    ('VXLAN', 'Disabled', 'VXLAN'), ('VXLANCrossSubnet', 'Disabled', 'VXLANCrossSubnet'),
    ('None', 'Enabled', 'None'),
])
def test_encapsulation_and_bgp(encapsulation, bgp, pool):
    network = installation.build(dict(sample_params(), encapsulation=encapsulation))
    network = network.installation['spec']['calicoNetwork']
    assert network['bgp'] == bgp
    assert network['ipPools'][0]['encapsulation'] == pool


def test_pod_cidr_alone_gives_the_default_pool_and_mtu_zero_is_left_out():
    params = dict(sample_params(), ip_pools=[], pod_cidr='10.50.0.0/16', mtu=0)
    network = installation.build(params).installation['spec']['calicoNetwork']
    assert network['ipPools'] == [{'name': 'default-ipv4-ippool', 'cidr': '10.50.0.0/16', 'encapsulation': 'IPIP',
                                   'natOutgoing': 'Disabled'}]
    assert 'mtu' not in network
    assert installation.build(dict(params, mtu=1450)).installation['spec']['calicoNetwork']['mtu'] == 1450


def test_bad_inputs_name_the_variables():
    params = dict(sample_params(), datastore='etcdv3', etcd_endpoints=['https://10.0.0.5:2379'],
                  encapsulation='VXLAN', ip_autodetection_method='interface=(',
                  ip_pools=[{'name': 'p', 'cidr': '10.244.0.0/16', 'ipip_mode': 'Always', 'vxlan_mode': 'Never'}])
    with pytest.raises(v.ValidationErrors) as failed:
        installation.build(params)
    text = str(failed.value)
    assert "calico_datastore: 'etcdv3'" in text and 'Kubernetes datastore only' in text
    assert 'calico_ip_autodetection_method' in text
    assert "calico_ip_pools[0] (p).ipip_mode: 'IPIP'" in text and 'needs BGP' in text


def test_a_field_the_older_operator_does_not_know_is_an_error_naming_the_variable():
    """disableNewAllocations (calico_ip_pools[].disabled) appeared in the v3.29 operator API."""
    params = dict(sample_params(), ip_pools=[{'name': 'old', 'cidr': '10.244.0.0/16', 'disabled': True}])
    render = installation.build(params)
    assert render.installation['spec']['calicoNetwork']['ipPools'][0]['disableNewAllocations'] is True
    schemas = {}
    for release in releases():
        schema = crd_schemas(release)['Installation']
        pool = schema['properties']['spec']['properties']['calicoNetwork']['properties']['ipPools']['items']
        schemas[release] = 'disableNewAllocations' in pool['properties']
    assert set(schemas.values()) == {True, False}, 'the test data should hold an operator release without it'
    for release, known in schemas.items():
        errors = v.ErrorCollector()
        installation.check_against_crds(render, crd_schemas(release), errors)
        if known:
            assert errors.messages == [], release
            validate(render.installation, release)
        else:
            assert len(errors.messages) == 1, (release, errors.messages)
            assert errors.messages[0].startswith('calico_ip_pools[0] (old).disabled: '
                                                 'spec.calicoNetwork.ipPools[0].disableNewAllocations true')
            with pytest.raises(jsonschema.ValidationError):
                validate(render.installation, release)


def test_schema_errors_reports_types_enums_and_required():
    schema = {'type': 'object', 'required': ['cidr'], 'properties': {
        'cidr': {'type': 'string'}, 'nat': {'type': 'string', 'enum': ['Enabled', 'Disabled']},
        'size': {'type': 'integer'}}}
    assert installation.schema_errors({'nat': 'on', 'size': '26', 'x': 1}, schema) == [
        ('cidr', 'is required'), ('nat', 'is not one of Enabled, Disabled'), ('size', 'is not of type integer'),
        ('x', 'is not a field of this operator release')]


@pytest.mark.parametrize('release', releases())
def test_operator_manifest_moves_the_image_and_leaves_the_crds_to_operator_crds(release):
    upstream = read_upstream(release, 'tigera-operator.yaml')
    crds = document.Manifest(read_upstream(release, 'operator-crds.yaml'))
    names = [doc.name for doc in crds.objects() if doc.kind == 'CustomResourceDefinition']
    text, changes, sha = installation.operator_manifest(upstream, 'registry.example.internal', names)
    rendered = document.Manifest(text)
    deployment = rendered.require('Deployment', 'tigera-operator', 'test')
    [container] = deployment.data['spec']['template']['spec']['containers']
    upstream_deployment = document.Manifest(upstream).require('Deployment', 'tigera-operator', 'test')
    [upstream_container] = upstream_deployment.data['spec']['template']['spec']['containers']
    assert upstream_container['image'].startswith('quay.io/tigera/operator:')
    assert container['image'] == upstream_container['image'].replace('quay.io/', 'registry.example.internal/')
    # Nothing else of the container names a registry: env and args are upstream's.
    assert container['env'] == upstream_container['env'] and container.get('args') == upstream_container.get('args')
    assert not [doc for doc in rendered.objects() if doc.kind == 'CustomResourceDefinition']
    assert 'images rewritten: 1 (quay.io -> registry.example.internal)' in changes
    # Every other object is upstream's, unchanged.
    kept = [doc.data for doc in document.Manifest(upstream).objects()
            if doc.kind not in ('CustomResourceDefinition', 'Deployment')]
    assert [doc.data for doc in rendered.objects() if doc.kind != 'Deployment'] == kept
    assert sha in text.splitlines()[1]


def _status(name, **conditions):
    return {'metadata': {'name': name}, 'status': {'conditions': [
        dict({'type': kind, 'status': 'True' if value else 'False'}, **(value if isinstance(value, dict) else {}))
        for kind, value in conditions.items()]}}


def test_tigerastatus_pending():
    from ansible_collections.k8snet.calico.plugins.module_utils.operator import status
    assert status.pending([], ['calico']) == ['calico: no TigeraStatus yet (the operator has not reported it)']
    assert status.pending([_status('calico', Available=True, Degraded=False)], ['calico']) == []
    progressing = {'reason': 'ResourceNotReady', 'message': 'DaemonSet not ready'}
    assert status.pending([_status('calico', Available=False, Progressing=progressing)], ['calico']) == [
        'calico: not Available, Progressing (ResourceNotReady: DaemonSet not ready)']
    # A component not asked for only counts when it is Degraded.
    statuses = [_status('calico', Available=True), _status('ippools', Available=False),
                _status('goldmane', Degraded={'reason': 'ResourceReadError', 'message': 'boom'})]
    assert status.pending(statuses, ['calico']) == ['goldmane: Degraded (ResourceReadError: boom)']
    assert status.pending(statuses, ['calico', 'apiserver']) == [
        'apiserver: no TigeraStatus yet (the operator has not reported it)', 'goldmane: Degraded (ResourceReadError: boom)']


def test_felix_configuration_is_kept_apart_to_be_merged():
    render = installation.build(dict(sample_params(), felix_config={'prometheusMetricsEnabled': True}))
    assert [item['kind'] for item in render.resources] == ['BGPConfiguration', 'BGPPeer']
    assert [(item['kind'], item['metadata']['name'], item['spec']) for item in render.felix] == [
        ('FelixConfiguration', 'default', {'prometheusMetricsEnabled': True})]
