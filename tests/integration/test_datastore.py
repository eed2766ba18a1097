# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The datastore transport against the real components of the test bed: kube-apiserver with the
upstream Calico CRDs, etcd plain and with client-certificate TLS, and calicoctl as the reference
for how connection settings are resolved."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

from testbed.procs import free_port

from ansible_collections.k8snet.calico.plugins.module_utils import datastore
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.etcd import EtcdClient
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.kubernetes import KubernetesClient

G, V, P = 'crd.projectcalico.org', 'v1', 'bgppeers'
LABEL = {'k8snet.test/suite': 'datastore'}
PEER_PREFIX = '/calico/resources/v3/projectcalico.org/bgppeers/'


def connect(options, environ=None, **kwargs):
    return datastore.connect(connection.resolve(options, environ=environ or {}), **kwargs)


def peer(name, as_number=64512):
    return {'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'BGPPeer',
            'metadata': {'name': name, 'labels': dict(LABEL)},
            'spec': {'peerIP': '192.0.2.1', 'asNumber': as_number}}


def names(client):
    listed = client.list(G, V, P, label_selector='k8snet.test/suite=datastore')
    return sorted(item['metadata']['name'] for item in listed['items'])


# -- Kubernetes API ---------------------------------------------------------------------------------
@pytest.fixture
def kube(cluster, calico_crds):
    client = connect({'kubeconfig': str(cluster.kubeconfig)})
    assert isinstance(client, KubernetesClient)
    yield client
    for name in names(client):
        client.delete(G, V, P, name)
    client.close()


@pytest.mark.cluster
def test_kubernetes_create_list_replace_conflict_delete(kube, cluster):
    assert names(kube) == []
    created = kube.create(G, V, P, peer('ds-a'))
    assert created['metadata']['uid'] and created['metadata']['resourceVersion']
    with pytest.raises(errors.AlreadyExists) as info:
        kube.create(G, V, P, peer('ds-a'))
    assert info.value.status == 409 and 'bgppeers.crd.projectcalico.org "ds-a" already exists' in str(info.value)
    assert names(kube) == ['ds-a']

    fresh = kube.get(G, V, P, 'ds-a')
    fresh['spec']['asNumber'] = 64513
    replaced = kube.replace(G, V, P, fresh)
    assert replaced['metadata']['resourceVersion'] != created['metadata']['resourceVersion']
    stale = dict(created, spec=dict(created['spec'], asNumber=64999))
    with pytest.raises(errors.Conflict) as info:
        kube.replace(G, V, P, stale)
    assert not isinstance(info.value, errors.AlreadyExists) and info.value.reason == 'Conflict'
    assert cluster.request('GET', '/apis/crd.projectcalico.org/v1/bgppeers/ds-a')['spec']['asNumber'] == 64513

    with pytest.raises(errors.Conflict, match='precondition'):
        kube.delete(G, V, P, 'ds-a', resource_version=created['metadata']['resourceVersion'])
    kube.delete(G, V, P, 'ds-a', resource_version=replaced['metadata']['resourceVersion'])
    assert cluster.request('GET', '/apis/crd.projectcalico.org/v1/bgppeers/ds-a', raw=True)[0] == 404


@pytest.mark.cluster
def test_kubernetes_dry_run_stores_nothing(kube, cluster):
    before = cluster.request('GET', '/apis/crd.projectcalico.org/v1/bgppeers')['metadata']['resourceVersion']
    answered = kube.create(G, V, P, peer('ds-dry'), dry_run=True)
    assert answered['metadata']['name'] == 'ds-dry' and answered['metadata']['uid']
    with pytest.raises(errors.NotFound):
        kube.get(G, V, P, 'ds-dry')

    kube.create(G, V, P, peer('ds-b'))
    live = kube.get(G, V, P, 'ds-b')
    changed = dict(live, spec=dict(live['spec'], asNumber=65000))
    assert kube.replace(G, V, P, changed, dry_run=True)['spec']['asNumber'] == 65000
    assert kube.patch(G, V, P, 'ds-b', {'spec': {'asNumber': 65001}}, dry_run=True)['spec']['asNumber'] == 65001
    kube.delete(G, V, P, 'ds-b', dry_run=True)
    assert kube.get(G, V, P, 'ds-b') == live

    read_only = connect({'kubeconfig': str(cluster.kubeconfig)}, read_only=True)
    read_only.create(G, V, P, peer('ds-dry2'), dry_run=True)
    with pytest.raises(errors.ReadOnlyViolation):
        read_only.create(G, V, P, peer('ds-dry2'))
    assert read_only.requests == {'create': 1}
    assert names(kube) == ['ds-b']
    assert before  # the list's resourceVersion was readable


@pytest.mark.cluster
def test_kubernetes_not_found_invalid_forbidden(kube, cluster):
    with pytest.raises(errors.NotFound) as info:
        kube.get(G, V, P, 'ds-missing')
    assert info.value.status == 404 and info.value.reason == 'NotFound'
    with pytest.raises(errors.NotFound, match='is its CRD installed'):
        kube.list(G, V, 'nosuchthings')
    with pytest.raises(errors.Invalid) as info:
        kube.create(G, V, P, dict(peer('ds-c'), spec={'asNumber': 'many'}))
    assert info.value.status == 422 and info.value.causes[0]['field'] == 'spec.asNumber'

    reader = cluster.restricted_kubeconfig('ds-reader', [{'apiGroups': [G], 'resources': [P],
                                                          'verbs': ['get', 'list']}])
    token = yaml.safe_load(reader.read_text())['users'][0]['user']['token']
    restricted = connect({'kubeconfig': str(reader)})
    assert names(restricted) == []
    with pytest.raises(errors.Forbidden) as info:
        restricted.create(G, V, P, peer('ds-c'))
    assert 'cannot create resource "bgppeers"' in str(info.value) and info.value.status == 403
    assert token not in str(info.value) and token not in repr(vars(info.value))


@pytest.mark.cluster
def test_kubernetes_counts_every_request(kube):
    kube.requests.clear()
    kube.list(G, V, P)
    for index in range(3):
        kube.create(G, V, P, peer('ds-n%d' % index))
    kube.patch(G, V, P, 'ds-n0', {'metadata': {'labels': {'x': 'y'}}})
    kube.delete(G, V, P, 'ds-n1')
    kube.server_version()
    assert kube.requests == {'list': 1, 'create': 3, 'patch': 1, 'delete': 1, 'version': 1}


@pytest.mark.cluster
def test_kubernetes_core_node_strategic_patch(kube, cluster):
    node = cluster.nodes[0].name
    patched = kube.patch('', 'v1', 'nodes', node, {'metadata': {'labels': {'k8snet.test/x': 'y'}}},
                         patch_type='strategic', dry_run=True)
    assert patched['metadata']['labels']['k8snet.test/x'] == 'y'
    assert 'k8snet.test/x' not in kube.get('', 'v1', 'nodes', node)['metadata']['labels']


@pytest.mark.cluster
def test_kubernetes_discovery_and_version(kube, cluster):
    served = kube.discover('crd.projectcalico.org')
    assert list(served) == ['v1'] and 'bgppeers' in served['v1'] and 'ippools' in served['v1']
    # No Calico API server in the test bed: projectcalico.org/v3 is not served.
    assert kube.discover('projectcalico.org') == {}
    assert kube.server_version()['gitVersion'] == cluster.version()


@pytest.mark.cluster
def test_kubernetes_context_selection(cluster, calico_crds, tmp_path):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    dead = 'https://127.0.0.1:%d' % free_port()
    config['clusters'].append({'name': 'dead', 'cluster': dict(config['clusters'][0]['cluster'], server=dead)})
    config['contexts'].append({'name': 'dead', 'context': {'cluster': 'dead', 'user': config['users'][0]['name']}})
    config['current-context'] = 'dead'
    path = tmp_path / 'two-contexts.kubeconfig'
    path.write_text(yaml.safe_dump(config))
    assert connect({'kubeconfig': str(path), 'context': 'testbed'}).server_version()
    assert connect({}, {'KUBECONFIG': str(path), 'K8S_CURRENT_CONTEXT': 'testbed'}).server_version()

    began = time.monotonic()
    with pytest.raises(errors.DatastoreUnreachable) as info:
        connect({'kubeconfig': str(path)}).list(G, V, P)
    assert time.monotonic() - began < 8
    assert str(info.value).startswith('Kubernetes API at %s unreachable (list bgppeers' % dead)
    assert 'Connection refused' in str(info.value)


@pytest.mark.cluster
def test_kubernetes_fresh_crd_answers_after_retries(cluster, calico_crds):
    """A CRD that was just established may answer 429 for a moment: the client waits it out."""
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
           'metadata': {'name': 'widgets.ds.k8snet.test'},
           'spec': {'group': 'ds.k8snet.test', 'scope': 'Cluster',
                    'names': {'plural': 'widgets', 'singular': 'widget', 'kind': 'Widget'},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                  'schema': {'openAPIV3Schema': {'type': 'object',
                                                                 'x-kubernetes-preserve-unknown-fields': True}}}]}}
    cluster.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)
    try:
        cluster.wait_crds_established('widgets.ds.k8snet.test')
        client = connect({'kubeconfig': str(cluster.kubeconfig)})
        made = client.create('ds.k8snet.test', 'v1', 'widgets',
                             {'apiVersion': 'ds.k8snet.test/v1', 'kind': 'Widget', 'metadata': {'name': 'w'}})
        assert made['metadata']['name'] == 'w'
        assert client.list('ds.k8snet.test', 'v1', 'widgets')['items'][0]['metadata']['name'] == 'w'
        assert client.requests['create'] >= 1 and client.requests['list'] >= 1
    finally:
        cluster.request('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.ds.k8snet.test')


# -- etcd -------------------------------------------------------------------------------------------
@pytest.mark.etcd
def test_etcd_create_update_delete_and_revisions(etcd_server):
    client = connect({}, etcd_server.env())
    assert isinstance(client, EtcdClient)
    key = PEER_PREFIX + 'ds-a'
    start = etcd_server.revision()
    created = client.create(key, json.dumps({'spec': 1}))
    assert created == start + 1 == etcd_server.revision()
    with pytest.raises(errors.AlreadyExists) as info:
        client.create(key, b'{}')
    assert info.value.current == (key, b'{"spec": 1}', created, created)
    assert etcd_server.revision() == created  # a failed compare writes nothing

    updated = client.update(key, b'{"spec": 2}', created)
    assert updated == created + 1
    with pytest.raises(errors.Conflict) as info:
        client.update(key, b'{"spec": 3}', created)
    assert info.value.current.mod_revision == updated
    assert etcd_server.get_prefix(PEER_PREFIX) == {key: b'{"spec": 2}'}

    client.create(PEER_PREFIX + 'ds-b', b'{}')
    client.create('/calico/resources/v3/projectcalico.org/bgppeersx/other', b'{}')
    kvs, revision = client.range_prefix(PEER_PREFIX)
    assert [(kv.key, kv.mod_revision, kv.create_revision) for kv in kvs] == [
        (key, updated, created), (PEER_PREFIX + 'ds-b', updated + 1, updated + 1)]
    assert revision == etcd_server.revision() == updated + 2
    assert client.get(key).value == b'{"spec": 2}'

    with pytest.raises(errors.Conflict):
        client.delete(key, created)
    assert client.delete(key, updated).value == b'{"spec": 2}'
    with pytest.raises(errors.NotFound):
        client.get(key)
    with pytest.raises(errors.NotFound):
        client.delete(key)
    assert client.requests == {'create': 4, 'update': 2, 'range': 1, 'get': 2, 'delete': 3}


@pytest.mark.etcd
def test_etcd_check_mode_client_writes_nothing(etcd_server):
    client = connect({}, etcd_server.env(), read_only=True)
    start = etcd_server.revision()
    for call in (lambda: client.create('/calico/x', b''), lambda: client.update('/calico/x', b'', 1),
                 lambda: client.delete('/calico/x')):
        with pytest.raises(errors.ReadOnlyViolation):
            call()
    assert client.range_prefix('/calico/') == ([], start)
    assert client.requests == {'range': 1} and etcd_server.revision() == start


@pytest.mark.etcd
def test_etcd_tls(etcd_tls_server):
    env = etcd_tls_server.env()
    client = connect({}, env)
    assert client.create('/calico/tls', b'ok') == etcd_tls_server.revision()
    assert etcd_tls_server.get_prefix('/calico/') == {'/calico/tls': b'ok'}

    options = {'etcd_endpoints': [etcd_tls_server.endpoint], 'etcd_ca_cert': env['ETCD_CA_CERT_FILE']}
    began = time.monotonic()
    with pytest.raises(errors.DatastoreUnreachable) as info:
        connect(options).get('/calico/tls')
    assert time.monotonic() - began < 5
    text = str(info.value)
    assert etcd_tls_server.endpoint in text and 'TLS handshake failed' in text
    assert 'client certificate (etcd_cert and etcd_key' in text
    with pytest.raises(errors.DatastoreUnreachable):
        connect(options).create('/calico/new', b'x')
    assert set(etcd_tls_server.get_prefix('/calico/')) == {'/calico/tls'}

    without_ca = dict(env)
    del without_ca['ETCD_CA_CERT_FILE']
    with pytest.raises(errors.DatastoreUnreachable, match='not trusted.*etcd_ca_cert'):
        connect({}, without_ca).get('/calico/tls')


@pytest.mark.etcd
def test_etcd_unreachable_and_failover(etcd_server):
    dead = 'http://127.0.0.1:%d' % free_port()
    began = time.monotonic()
    with pytest.raises(errors.DatastoreUnreachable) as info:
        connect({'etcd_endpoints': dead}).range_prefix('/calico/')
    assert time.monotonic() - began < 5
    assert str(info.value) == ('etcd unreachable: the range of /calico/ failed on every endpoint: '
                               '%s (Connection refused)' % dead)
    assert info.value.endpoints == [dead]

    both = connect({'etcd_endpoints': '%s,%s' % (dead, etcd_server.endpoint)})
    assert both.create('/calico/f', b'1')
    assert both.get('/calico/f').value == b'1'
    assert both.requests == {'create': 2, 'get': 1}  # the dead one once, then the live one sticks


@pytest.mark.etcd
def test_etcd_authentication(etcd_server):
    import requests
    for path, body in [('/v3/auth/role/add', {'name': 'root'}),
                       ('/v3/auth/user/add', {'name': 'root', 'password': 'rootpw'}),
                       ('/v3/auth/user/grant', {'user': 'root', 'role': 'root'}),
                       ('/v3/auth/role/add', {'name': 'calico'}),
                       ('/v3/auth/role/grant', {'name': 'calico', 'perm': {
                           'key': 'L2NhbGljby8=', 'range_end': 'L2NhbGljbzA=',  # /calico/ .. /calico0
                           'permType': 'READWRITE'}}),
                       ('/v3/auth/user/add', {'name': 'calico', 'password': 'hunter2'}),
                       ('/v3/auth/user/grant', {'user': 'calico', 'role': 'calico'}),
                       ('/v3/auth/enable', {})]:
        assert requests.post(etcd_server.endpoint + path, json=body, timeout=10).status_code == 200, path
    client = connect({}, {'ETCD_ENDPOINTS': etcd_server.endpoint, 'ETCD_USERNAME': 'calico',
                          'ETCD_PASSWORD': 'hunter2'})
    client.create('/calico/auth', b'1')
    with pytest.raises(errors.Forbidden, match='permission denied'):
        client.create('/elsewhere', b'1')
    with pytest.raises(errors.Forbidden, match='set etcd_username and etcd_password'):
        connect({'etcd_endpoints': etcd_server.endpoint}).get('/calico/auth')
    with pytest.raises(errors.Forbidden) as info:
        connect({'etcd_endpoints': etcd_server.endpoint, 'etcd_username': 'calico',
                 'etcd_password': 'wrong-pw'}).get('/calico/auth')
    assert 'wrong-pw' not in str(info.value) and 'refused the user calico' in str(info.value)


@pytest.mark.etcd
def test_etcd_inline_certificates_of_a_config_file(etcd_tls_server, tmp_path):
    env = etcd_tls_server.env()
    spec = {'datastoreType': 'etcdv3', 'etcdEndpoints': etcd_tls_server.endpoint}
    for field, variable in (('etcdCACert', 'ETCD_CA_CERT_FILE'), ('etcdCert', 'ETCD_CERT_FILE'),
                            ('etcdKey', 'ETCD_KEY_FILE')):
        with open(env[variable]) as handle:
            spec[field] = handle.read()
    path = tmp_path / 'calicoctl.cfg'
    path.write_text(yaml.safe_dump({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                                    'metadata': {}, 'spec': spec}))
    client = connect({'config_file': str(path)})
    client.create('/calico/inline', b'1')
    tempdir = client._tempdir
    assert sorted(os.listdir(tempdir)) == ['ca_cert.pem', 'cert.pem', 'key.pem']
    client.close()
    assert not os.path.exists(tempdir)


# -- the resolution against calicoctl itself ------------------------------------------------------------
def calicoctl_peers(binary, env, *args):
    """``calicoctl get bgppeers`` with exactly ``env`` as its environment."""
    return subprocess.run([str(binary), 'get', 'bgppeers', '-o', 'json', *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def clean_env(**extra):
    """The process environment without any calicoctl setting, plus ``extra``."""
    names = set()
    for json_name, tag, kind, attribute in connection.SPEC_FIELDS:
        if tag:
            names.update(connection.env_names(tag))
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env


@pytest.mark.etcd
@pytest.mark.calicoctl
def test_resolution_matches_calicoctl(testbed_bin, etcd_server, tmp_path):
    live, dead = etcd_server.endpoint, 'http://127.0.0.1:%d' % free_port()
    connect({'etcd_endpoints': live}).create(PEER_PREFIX + 'ref', json.dumps({
        'kind': 'BGPPeer', 'apiVersion': 'projectcalico.org/v3',
        'metadata': {'name': 'ref', 'uid': '0b6c2a8e-0000-4000-8000-000000000001',
                     'creationTimestamp': '2025-01-01T00:00:00Z'},
        'spec': {'peerIP': '192.0.2.9', 'asNumber': 65009}}))
    binary = testbed_bin / 'calicoctl'

    # 1. The config file wins, and the environment is not merged into it.
    cfg = tmp_path / 'calicoctl.cfg'
    cfg.write_text(yaml.safe_dump({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                                   'spec': {'datastoreType': 'etcdv3', 'etcdEndpoints': live}}))
    env = clean_env(DATASTORE_TYPE='etcdv3', ETCD_ENDPOINTS=dead, ETCD_CA_CERT_FILE='/nonexistent/ca.pem')
    result = calicoctl_peers(binary, env, '--config', str(cfg))
    assert result.returncode == 0, result.stderr
    assert [i['metadata']['name'] for i in json.loads(result.stdout)['items']] == ['ref']
    settings = connection.resolve({'config_file': str(cfg)}, environ=env)
    assert settings.etcd_endpoints == [live] and settings.etcd_ca_cert_file is None
    assert [kv.key for kv in datastore.connect(settings).range_prefix(PEER_PREFIX).kvs] == [PEER_PREFIX + 'ref']

    # 2. Without a config file: CALICO_ETCD_ENDPOINTS before ETCD_ENDPOINTS.
    env = clean_env(DATASTORE_TYPE='etcdv3', CALICO_ETCD_ENDPOINTS=live, ETCD_ENDPOINTS=dead)
    result = calicoctl_peers(binary, env, '--config', str(tmp_path / 'absent.cfg'))
    assert result.returncode != 0  # a named config file must exist, for calicoctl too
    with pytest.raises(errors.ConfigurationError):
        connection.resolve({'config_file': str(tmp_path / 'absent.cfg')}, environ=env)
    if os.path.exists(connection.DEFAULT_CONFIG_FILE):
        pytest.skip('%s exists on this host: the environment is not read' % connection.DEFAULT_CONFIG_FILE)
    result = calicoctl_peers(binary, env)
    assert result.returncode == 0, result.stderr
    assert connection.resolve({}, environ=env).etcd_endpoints == [live]

    # 3. No datastore type but endpoints: etcdv3 for both.
    env = clean_env(ETCD_ENDPOINTS=live)
    assert calicoctl_peers(binary, env).returncode == 0
    assert connection.resolve({}, environ=env).datastore == 'etcdv3'

    # 4. A config file with an unknown field is refused by both.
    cfg.write_text(yaml.safe_dump({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                                   'spec': {'datastoreType': 'etcdv3', 'etcdEndpoints': live, 'etcdEndpoint': 'x'}}))
    assert calicoctl_peers(binary, clean_env(), '--config', str(cfg)).returncode != 0
    with pytest.raises(errors.ConfigurationError, match='unknown field "spec.etcdEndpoint"'):
        connection.resolve({'config_file': str(cfg)}, environ={})
