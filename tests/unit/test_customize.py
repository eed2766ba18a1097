# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each customisation of the manifest, on a small manifest and on every upstream release; the
options' validation; determinism."""

import base64

import pytest
import yaml

from calico_testdata import read_upstream, releases

from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import cni, customize
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.diff import diff_objects
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.document import (
    Manifest, ManifestError, split_stream)
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.options import manifest_options

SMALL = '''---
# Source: calico/templates/calico-config.yaml
kind: ConfigMap
apiVersion: v1
metadata:
  name: calico-config
  namespace: kube-system
data:
  calico_backend: "bird"
  veth_mtu: "0"
  cni_network_config: |-
    {
      "plugins": [
        {
          "type": "calico",
          "mtu": __CNI_MTU__
        }
      ]
    }
---
kind: DaemonSet
apiVersion: apps/v1
metadata:
  name: calico-node
  namespace: kube-system
spec:
  template:
    spec:
      initContainers:
        - name: install-cni
          image: calico/cni:v3.99.0
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.99.0
          env:
            - name: IP
              value: "autodetect"
            - name: CALICO_IPV4POOL_IPIP
              value: "Always"
          livenessProbe:
            exec:
              command: ["/bin/calico-node", "-felix-live", "-bird-live"]
          readinessProbe:
            exec:
              command:
                - /bin/calico-node
                - -felix-ready
                - -bird-ready
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: other
spec:
  template:
    spec:
      containers:
        - name: c
          image: localhost:5000/tools/x@sha256:0123456789abcdef
'''


def render(text, **params):
    return customize.render_manifest(text, manifest_options(params))


def objects(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def changes(before_text, after_text):
    return dict((change.where, (change.before, change.after))
                for change in diff_objects(objects(before_text), objects(after_text)))


def test_nothing_set_is_upstream_plus_a_header():
    result = render(SMALL)
    assert result.changes == []
    assert result.text.endswith(SMALL)
    assert result.text[:-len(SMALL)].startswith('# Rendered by k8snet.calico')


def test_images_keep_path_tag_and_digest():
    result = render(SMALL, image_registry='registry.example.internal/mirror')
    assert changes(SMALL, result.text) == {
        'DaemonSet kube-system/calico-node: spec.template.spec.initContainers[install-cni].image':
            ('calico/cni:v3.99.0', 'registry.example.internal/mirror/calico/cni:v3.99.0'),
        'DaemonSet kube-system/calico-node: spec.template.spec.containers[calico-node].image':
            ('docker.io/calico/node:v3.99.0', 'registry.example.internal/mirror/calico/node:v3.99.0'),
        'Deployment other: spec.template.spec.containers[c].image':
            ('localhost:5000/tools/x@sha256:0123456789abcdef',
             'registry.example.internal/mirror/tools/x@sha256:0123456789abcdef'),
    }
    assert result.changes == ['images rewritten: 3 ((no registry) -> registry.example.internal/mirror, '
                              'docker.io -> registry.example.internal/mirror, '
                              'localhost:5000 -> registry.example.internal/mirror)']


def test_split_image():
    assert customize.split_image('quay.io/calico/node:v3.31.7') == ('quay.io', 'calico/node:v3.31.7')
    assert customize.split_image('calico/node:v3') == (None, 'calico/node:v3')
    assert customize.split_image('busybox') == (None, 'busybox')
    assert customize.split_image('localhost/x') == ('localhost', 'x')


def test_pool_cidr_and_autodetection_next_to_ip():
    result = render(SMALL, pod_cidr='10.244.0.0/16', ip_autodetection_method='interface=bond4,eth0',
                    ip6_autodetection_method='first-found')
    env = objects(result.text)[1]['spec']['template']['spec']['containers'][0]['env']
    assert [entry['name'] for entry in env] == ['IP', 'IP_AUTODETECTION_METHOD', 'IP6_AUTODETECTION_METHOD',
                                                'CALICO_IPV4POOL_IPIP', 'CALICO_IPV4POOL_CIDR']
    assert env[1] == {'name': 'IP_AUTODETECTION_METHOD', 'value': 'interface=bond4,eth0'}
    assert env[4] == {'name': 'CALICO_IPV4POOL_CIDR', 'value': '10.244.0.0/16'}
    assert result.warnings == ['IP6_AUTODETECTION_METHOD is set, but calico-node ignores it: its IP6 env is '
                               'unset, not "autodetect"']
    assert '            - name: IP_AUTODETECTION_METHOD\n              value: "interface=bond4,eth0"\n' \
        in result.text


def test_existing_env_is_replaced_in_place():
    text = SMALL.replace('value: "autodetect"', 'value: "autodetect"\n            - name: CALICO_IPV4POOL_CIDR\n'
                                                '              value: "192.168.0.0/16"')
    result = render(text, pod_cidr='10.244.0.0/16')
    assert result.changes == ["calico-node env CALICO_IPV4POOL_CIDR=10.244.0.0/16 (was '192.168.0.0/16')"]


@pytest.mark.parametrize('encapsulation, ipip, vxlan, backend, bird_checks', [
    ('IPIP', 'Always', 'Never', 'bird', True),
    ('IPIPCrossSubnet', 'CrossSubnet', 'Never', 'bird', True),
    ('VXLAN', 'Never', 'Always', 'vxlan', False),
    ('VXLANCrossSubnet', 'Never', 'CrossSubnet', 'vxlan', False),
    ('None', 'Never', 'Never', 'bird', True),
])
def test_encapsulation(encapsulation, ipip, vxlan, backend, bird_checks):
    result = render(SMALL, encapsulation=encapsulation)
    config, node = objects(result.text)[:2]
    container = node['spec']['template']['spec']['containers'][0]
    env = dict((entry['name'], entry.get('value')) for entry in container['env'])
    assert (env['CALICO_IPV4POOL_IPIP'], env['CALICO_IPV4POOL_VXLAN']) == (ipip, vxlan)
    assert config['data']['calico_backend'] == backend
    assert ('-bird-live' in container['livenessProbe']['exec']['command']) == bird_checks
    assert ('-bird-ready' in container['readinessProbe']['exec']['command']) == bird_checks
    assert '-felix-live' in container['livenessProbe']['exec']['command']


def test_mtu_and_bandwidth():
    result = render(SMALL, mtu=1440, bandwidth_plugin=True)
    data = objects(result.text)[0]['data']
    assert data['veth_mtu'] == '1440'
    assert cni.plugin_types(data['cni_network_config']) == ['calico', 'bandwidth']
    again = render(result.text, mtu=1440, bandwidth_plugin=False)
    assert cni.plugin_types(objects(again.text)[0]['data']['cni_network_config']) == ['calico']
    assert again.changes == ['ConfigMap calico-config cni_network_config: bandwidth plugin removed']


def test_typha_replicas_need_typha():
    with pytest.raises(ManifestError) as info:
        render(SMALL, typha_replicas=3)
    assert str(info.value) == ('calico_typha_replicas: 3 is set, but the manifest has no Deployment '
                               'calico-typha (render the Typha manifest to use Typha)')


@pytest.mark.parametrize('text, message', [
    (SMALL.replace('name: calico-config', 'name: other-config'),
     "the manifest has no ConfigMap 'calico-config', needed to check the datastore"),
    (SMALL.replace('- name: calico-node\n', '- name: node\n'),
     "DaemonSet calico-node has no container 'calico-node', needed to set CALICO_IPV4POOL_CIDR"),
    (SMALL.replace('name: calico-node\n  namespace', 'name: node\n  namespace'),
     "the manifest has no DaemonSet 'calico-node', needed to set CALICO_IPV4POOL_CIDR"),
    (SMALL.replace('"plugins"', '"chain"'),
     "ConfigMap calico-config cni_network_config: the CNI network configuration has no 'plugins' list"),
])
def test_missing_structure_is_a_clear_error(text, message):
    with pytest.raises(ManifestError) as info:
        render(text, pod_cidr='10.244.0.0/16', bandwidth_plugin=True)
    assert str(info.value).startswith(message)


def test_datastore_must_match_the_manifest():
    with pytest.raises(ManifestError) as info:
        render(SMALL, datastore='etcdv3', etcd_endpoints=['https://10.0.0.5:2379'])
    assert str(info.value).startswith("calico_datastore: 'etcdv3', but the manifest is not an etcd manifest")
    etcd = SMALL.replace('  calico_backend: "bird"', '  etcd_endpoints: "http://<ETCD_IP>:<ETCD_PORT>"\n'
                                                     '  calico_backend: "bird"')
    with pytest.raises(ManifestError) as info:
        render(etcd)
    assert str(info.value).startswith("calico_datastore: 'kubernetes', but the manifest is an etcd manifest")


def test_not_yaml_and_not_objects():
    with pytest.raises(ManifestError) as info:
        Manifest('---\nkind: [\n')
    assert 'not valid YAML (document starting at line 1)' in str(info.value)
    with pytest.raises(ManifestError):
        Manifest('# nothing\n')


def test_split_stream_is_lossless():
    text = '# head\n---\na: 1\n--- \nb: 2\n---\n'
    pieces = split_stream(text)
    assert ''.join(piece for _line, piece in pieces) == text
    assert [line for line, _piece in pieces] == [1, 2, 4, 6]


@pytest.mark.parametrize('params, messages', [
    (dict(pod_cidr='10.244.0.0/33'), ["calico_pod_cidr: '10.244.0.0/33' is not an IPv4/IPv6 network"]),
    (dict(pod_cidr='fd00::/48'), ["calico_pod_cidr: 'fd00::/48' is an IPv6 network: CALICO_IPV4POOL_CIDR takes "
                                  "IPv4 (put IPv6 pools in calico_ip_pools)"]),
    (dict(encapsulation='GRE'), ["calico_encapsulation: 'GRE' is not one of IPIP, IPIPCrossSubnet, VXLAN, "
                                 "VXLANCrossSubnet, None"]),
    (dict(ip_autodetection_method='eth0'), ["calico_ip_autodetection_method: 'eth0' is not a Calico IP "
                                            "autodetection method (first-found, kubernetes-internal-ip, "
                                            "interface=REGEX[,REGEX...], skip-interface=REGEX[,REGEX...], "
                                            "cidr=CIDR[,CIDR...], can-reach=DESTINATION)"]),
    (dict(datastore='consul'), ["calico_datastore: 'consul' is not one of kubernetes, etcdv3"]),
    (dict(mtu=20, typha_replicas=0), ['calico_mtu: 20 is not an MTU (0 for auto-detection, or 68 to 65535)',
                                      'calico_typha_replicas: 0 is not a positive integer']),
    (dict(datastore='etcdv3'), ["calico_etcd_endpoints: is required when calico_datastore is 'etcdv3'"]),
    (dict(datastore='etcdv3', etcd_endpoints='https://a:2379,10.0.0.1:2379', etcd_cert='/nonexistent'),
     ["calico_etcd_endpoints[1]: '10.0.0.1:2379' is not an etcd endpoint (http://host:port or https://host:port)",
      "calico_etcd_cert: '/nonexistent' cannot be read: No such file or directory",
      'calico_etcd_cert and calico_etcd_key: give both (client certificate and its key) or neither']),
])
def test_option_errors_name_the_variable(params, messages):
    with pytest.raises(ValidationErrors) as info:
        manifest_options(params)
    assert info.value.messages == messages


def test_option_prefix():
    with pytest.raises(ValidationErrors) as info:
        manifest_options({'pod_cidr': 'x'}, prefix='')
    assert info.value.messages == ["pod_cidr: 'x' is not an IPv4/IPv6 network"]


def test_etcd_files_must_be_pem(tmp_path):
    path = tmp_path / 'ca.crt'
    path.write_text('not a certificate')
    with pytest.raises(ValidationErrors) as info:
        manifest_options(dict(datastore='etcdv3', etcd_endpoints=['https://a:2379'], etcd_ca_cert=str(path)))
    assert info.value.messages == ["calico_etcd_ca_cert: '%s' is not a PEM file (no -----BEGIN line)" % path]


# --- every upstream release --------------------------------------------------------------------


ALL = dict(image_registry='registry.example.internal', pod_cidr='10.244.0.0/16',
           ip_autodetection_method='interface=bond4,eth0', encapsulation='VXLANCrossSubnet', mtu=1440,
           bandwidth_plugin=True)


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('name', ['calico.yaml', 'calico-typha.yaml'])
def test_upstream_render_is_deterministic_and_idempotent(release, name):
    upstream = read_upstream(release, name)
    params = dict(ALL, typha_replicas=2 if 'typha' in name else None)
    first = render(upstream, **params)
    assert render(upstream, **params).text == first.text
    again = render(first.text, **params)
    assert again.changes == [], 'rendering a rendered manifest changes nothing'
    # Documents nobody changed are byte for byte upstream's.
    rendered_pieces = set(piece for _line, piece in split_stream(first.text))
    modified = set(doc.describe() for doc in first.manifest.documents if doc.modified)
    for _line, piece in split_stream(upstream):
        doc = yaml.safe_load(piece)
        if doc and '%s %s' % (doc['kind'], doc['metadata']['name']) not in modified:
            assert piece in rendered_pieces
    assert modified == set(['ConfigMap calico-config', 'DaemonSet calico-node',
                            'Deployment calico-kube-controllers'] + (['Deployment calico-typha'] if 'typha' in name else []))


@pytest.mark.parametrize('release', releases())
def test_upstream_etcd(release, tmp_path):
    ca, cert, key = (tmp_path / 'ca.pem', tmp_path / 'cert.pem', tmp_path / 'key.pem')
    for path in (ca, cert, key):
        path.write_text('-----BEGIN %s-----\nMIIB\n-----END-----\n' % path.name)
    upstream = read_upstream(release, 'calico-etcd.yaml')
    result = render(upstream, datastore='etcdv3', etcd_endpoints=['https://10.0.0.5:2379', 'https://10.0.0.6:2379'],
                    etcd_ca_cert=str(ca), etcd_cert=str(cert), etcd_key=str(key))
    found = changes(upstream, result.text)
    assert found.pop('Secret kube-system/calico-etcd-secrets: data') == (None, {
        'etcd-ca': base64.b64encode(ca.read_bytes()).decode(),
        'etcd-cert': base64.b64encode(cert.read_bytes()).decode(),
        'etcd-key': base64.b64encode(key.read_bytes()).decode()})
    assert found == {
        'ConfigMap kube-system/calico-config: data.etcd_endpoints':
            ('http://<ETCD_IP>:<ETCD_PORT>', 'https://10.0.0.5:2379,https://10.0.0.6:2379'),
        'ConfigMap kube-system/calico-config: data.etcd_ca': ('', '/calico-secrets/etcd-ca'),
        'ConfigMap kube-system/calico-config: data.etcd_cert': ('', '/calico-secrets/etcd-cert'),
        'ConfigMap kube-system/calico-config: data.etcd_key': ('', '/calico-secrets/etcd-key'),
    }
