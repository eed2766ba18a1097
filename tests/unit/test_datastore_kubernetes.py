# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes transport without a server: paths, error mapping, retries, counting, the
read-only guard, secrets kept out of errors, and the kubeconfig -> Configuration step."""

import json

import pytest
import urllib3
import yaml


from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import kubernetes as k8s

G, V, P = 'crd.projectcalico.org', 'v1', 'ippools'
TOKEN = 'Bearer sekr3t-token'


class Response:
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b''
        self.headers = headers or {}


class Pool:
    """Scripted answers (Response or an exception to raise), records what was sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, body=None, headers=None, **kwargs):
        self.sent.append({'method': method, 'url': url, 'body': json.loads(body) if body else None,
                          'headers': dict(headers), 'kwargs': kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Configuration:
    host = 'https://user:pw@api.example:6443'
    cert_file = None

    def auth_settings(self):
        return {'BearerToken': {'in': 'header', 'key': 'authorization', 'value': TOKEN, 'type': 'api_key'}}


class ApiClient:
    def __init__(self, pool):
        self.configuration = Configuration()
        self.rest_client = type('Rest', (), {'pool_manager': pool})()

    def close(self):
        pass


def client(*answers, **kwargs):
    pool = Pool(*answers)
    sleeps = []
    made = k8s.KubernetesClient(ApiClient(pool), sleep=sleeps.append, **kwargs)
    return made, pool, sleeps


def status(code, reason, message, causes=None):
    body = {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'message': message, 'reason': reason,
            'code': code}
    if causes:
        body['details'] = {'causes': causes}
    return Response(code, body)


def refused():
    conn_error = urllib3.exceptions.NewConnectionError(None, 'Failed to establish a new connection: '
                                                             '[Errno 111] Connection refused')
    return urllib3.exceptions.MaxRetryError(None, '/x', conn_error)


POOL = {'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'IPPool',
        'metadata': {'name': 'pool-a', 'resourceVersion': '7'}, 'spec': {'cidr': '10.0.0.0/16'}}


# -- requests -----------------------------------------------------------------------------------
def test_paths_and_queries():
    made, pool, sleeps = client(*[Response(200, {})] * 9)
    made.list(G, V, P, label_selector='a=b')
    made.get(G, V, P, 'pool-a')
    made.get('', 'v1', 'nodes', 'node-1')
    made.list('', 'v1', 'configmaps', namespace='kube-system')
    made.create(G, V, P, POOL, dry_run=True)
    made.replace(G, V, P, POOL)
    made.patch('', 'v1', 'nodes', 'node-1', {'metadata': {}}, patch_type='strategic')
    made.patch(G, V, P, 'pool-a', [{'op': 'remove', 'path': '/spec/x'}], patch_type='json', dry_run=True)
    made.delete(G, V, P, 'pool-a', resource_version='7', uid='u1', dry_run=True)
    base = 'https://user:pw@api.example:6443'
    sent = [(s['method'], s['url'][len(base):]) for s in pool.sent]
    assert sent == [
        ('GET', '/apis/crd.projectcalico.org/v1/ippools?labelSelector=a%3Db'),
        ('GET', '/apis/crd.projectcalico.org/v1/ippools/pool-a'),
        ('GET', '/api/v1/nodes/node-1'),
        ('GET', '/api/v1/namespaces/kube-system/configmaps'),
        ('POST', '/apis/crd.projectcalico.org/v1/ippools?dryRun=All'),
        ('PUT', '/apis/crd.projectcalico.org/v1/ippools/pool-a'),
        ('PATCH', '/api/v1/nodes/node-1'),
        ('PATCH', '/apis/crd.projectcalico.org/v1/ippools/pool-a?dryRun=All'),
        ('DELETE', '/apis/crd.projectcalico.org/v1/ippools/pool-a?dryRun=All'),
    ]
    assert pool.sent[4]['body'] == POOL
    assert pool.sent[6]['headers']['Content-Type'] == 'application/strategic-merge-patch+json'
    assert pool.sent[7]['headers']['Content-Type'] == 'application/json-patch+json'
    assert pool.sent[8]['body'] == {'apiVersion': 'v1', 'kind': 'DeleteOptions',
                                    'preconditions': {'resourceVersion': '7', 'uid': 'u1'}}
    assert all(s['headers']['authorization'] == TOKEN for s in pool.sent)
    assert all(s['kwargs']['retries'] is False for s in pool.sent)
    assert made.requests == {'list': 2, 'get': 2, 'create': 1, 'replace': 1, 'patch': 2, 'delete': 1}
    assert sleeps == []


def test_apply_patch_needs_field_manager():
    made, pool, sleeps = client(Response(200, {}))
    with pytest.raises(ValueError):
        made.patch(G, V, P, 'pool-a', {}, patch_type='apply')
    made.patch(G, V, P, 'pool-a', {}, patch_type='apply', field_manager='k8snet', force=True)
    assert pool.sent[0]['url'].endswith('?force=true&fieldManager=k8snet')
    assert pool.sent[0]['headers']['Content-Type'] == 'application/apply-patch+yaml'
    with pytest.raises(ValueError):
        made.patch(G, V, P, 'pool-a', {}, patch_type='xml')


def test_read_only_refuses_writes_before_sending():
    made, pool, sleeps = client(Response(201, POOL), Response(200, {}), read_only=True)
    for call in (lambda: made.create(G, V, P, POOL), lambda: made.replace(G, V, P, POOL),
                 lambda: made.patch(G, V, P, 'a', {}), lambda: made.delete(G, V, P, 'a')):
        with pytest.raises(errors.ReadOnlyViolation):
            call()
    assert pool.sent == []
    made.create(G, V, P, POOL, dry_run=True)
    made.list(G, V, P)
    assert made.requests == {'create': 1, 'list': 1}


def test_writes_allowed_when_not_read_only():
    made, pool, sleeps = client(Response(200, {}))
    made.delete(G, V, P, 'a')
    assert made.requests == {'delete': 1}


# -- error mapping ------------------------------------------------------------------------------
@pytest.mark.parametrize('answer, error, reason', [
    (status(404, 'NotFound', 'ippools.crd.projectcalico.org "x" not found'), errors.NotFound, 'NotFound'),
    (status(409, 'AlreadyExists', 'ippools.crd.projectcalico.org "x" already exists'), errors.AlreadyExists,
     'AlreadyExists'),
    (status(409, 'Conflict', 'the object has been modified'), errors.Conflict, 'Conflict'),
    (status(422, 'Invalid', 'IPPool "x" is invalid: spec.cidr: Invalid value'), errors.Invalid, 'Invalid'),
    (status(400, 'BadRequest', 'bad'), errors.Invalid, 'BadRequest'),
    (status(403, 'Forbidden', 'cannot create'), errors.Forbidden, 'Forbidden'),
    (status(401, 'Unauthorized', 'Unauthorized'), errors.Forbidden, 'Unauthorized'),
    (status(500, 'InternalError', 'etcd timeout'), errors.DatastoreError, 'InternalError'),
])
def test_error_mapping(answer, error, reason):
    made, pool, sleeps = client(answer)
    with pytest.raises(error) as info:
        made.create(G, V, P, POOL)
    exc = info.value
    assert type(exc).__name__ == error.__name__  # exactly, not a subclass
    assert exc.status == answer.status and exc.reason == reason
    text = str(exc)
    assert json.loads(answer.data)['message'] in text
    assert 'create ippools.crd.projectcalico.org/v1 "pool-a"' in text
    assert 'https://api.example:6443' in text and exc.endpoint == 'https://api.example:6443'
    assert 'pw' not in text and 'sekr3t' not in text and 'sekr3t' not in repr(exc.__dict__)
    assert sleeps == []


def test_conflict_is_a_conflict():
    assert issubclass(errors.AlreadyExists, errors.Conflict)


def test_invalid_carries_causes():
    causes = [{'reason': 'FieldValueInvalid', 'message': 'Invalid value: "x"', 'field': 'spec.cidr'}]
    made, pool, sleeps = client(status(422, 'Invalid', 'IPPool "a" is invalid', causes))
    with pytest.raises(errors.Invalid) as info:
        made.replace(G, V, P, POOL)
    assert info.value.causes == causes


def test_not_json_error_body():
    made, pool, sleeps = client(Response(404, b'404 page not found\n'), Response(502, b'<html>bad gateway</html>'))
    with pytest.raises(errors.NotFound, match='404 page not found.*is its CRD installed'):
        made.list(G, V, 'nopes')
    with pytest.raises(errors.DatastoreError, match='bad gateway'):
        made.get(G, V, P, 'a')


# -- retries ------------------------------------------------------------------------------------
def test_429_is_retried_after_the_time_asked_for_writes_too():
    made, pool, sleeps = client(status(429, 'TooManyRequests', 'storage is (re)initializing'),
                                Response(429, {}, {'Retry-After': '2'}), Response(201, POOL))
    assert made.create(G, V, P, POOL) == POOL
    assert sleeps == [1.0, 2.0]
    assert made.requests == {'create': 3}


def test_5xx_with_retry_after_is_retried_without_is_not():
    made, pool, sleeps = client(Response(503, {}, {'Retry-After': '1'}), Response(200, {'items': []}),
                                Response(503, b'unavailable'))
    assert made.list(G, V, P) == {'items': []}
    with pytest.raises(errors.DatastoreError) as info:
        made.list(G, V, P)
    assert info.value.status == 503
    assert sleeps == [1.0]


def test_429_gives_up_after_its_budget():
    made, pool, sleeps = client(*[Response(429, {}, {'Retry-After': '60'})] * 10)
    with pytest.raises(errors.DatastoreError) as info:
        made.get(G, V, P, 'a')
    assert info.value.status == 429
    assert sum(sleeps) <= k8s.RETRY_AFTER_BUDGET and max(sleeps) == k8s.RETRY_AFTER_MAX


def test_connection_errors_are_retried_for_reads_then_unreachable():
    made, pool, sleeps = client(*[refused()] * 5)
    with pytest.raises(errors.DatastoreUnreachable) as info:
        made.list(G, V, P)
    assert sleeps == list(k8s.READ_BACKOFF)
    assert made.requests == {'list': 5}
    text = str(info.value)
    assert text.startswith('Kubernetes API at https://api.example:6443 unreachable (list ippools')
    assert 'Connection refused' in text and 'pw' not in text
    assert info.value.endpoints == ['https://api.example:6443']


def test_a_read_recovers_after_a_connection_error():
    made, pool, sleeps = client(refused(), Response(200, {'items': []}))
    assert made.list(G, V, P) == {'items': []}
    assert sleeps == [k8s.READ_BACKOFF[0]]


def test_writes_are_not_retried_on_connection_errors():
    made, pool, sleeps = client(refused())
    with pytest.raises(errors.DatastoreUnreachable, match=r'nothing was written'):
        made.create(G, V, P, POOL)
    assert made.requests == {'create': 1} and sleeps == []
    made, pool, sleeps = client(urllib3.exceptions.ReadTimeoutError(None, '/x', 'Read timed out.'))
    with pytest.raises(errors.DatastoreUnreachable, match='may or may not have been applied'):
        made.replace(G, V, P, POOL)


def test_discover():
    group = {'kind': 'APIGroup', 'name': 'projectcalico.org',
             'versions': [{'groupVersion': 'projectcalico.org/v3', 'version': 'v3'},
                          {'groupVersion': 'projectcalico.org/v4', 'version': 'v4'}],
             'preferredVersion': {'groupVersion': 'projectcalico.org/v4', 'version': 'v4'}}
    resources = {'kind': 'APIResourceList', 'resources': [{'name': 'ippools'}, {'name': 'ippools/status'},
                                                          {'name': 'bgppeers'}]}
    made, pool, sleeps = client(Response(200, group), Response(503, b'service unavailable'),
                                Response(200, resources))
    served = made.discover('projectcalico.org')
    assert dict(served) == {'v3': ['ippools', 'bgppeers']}
    assert 'v4' in made.warnings[0]
    assert made.requests == {'discover': 3}
    made, pool, sleeps = client(Response(404, b'404 page not found'))
    assert made.discover('projectcalico.org') == {}


def test_credentials_plugin_failure_is_reported_without_detail():
    made, pool, sleeps = client()

    def broken():
        raise RuntimeError('exec plugin printed sekr3t')
    made.configuration.auth_settings = broken
    with pytest.raises(errors.ConfigurationError) as info:
        made.get(G, V, P, 'a')
    assert 'sekr3t' not in str(info.value)


# -- kubeconfig -> Configuration ----------------------------------------------------------------
def kubeconfig(path, token='tok-blue'):
    doc = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'blue',
           'clusters': [{'name': 'blue', 'cluster': {'server': 'https://blue:6443'}},
                        {'name': 'green', 'cluster': {'server': 'https://green:6443',
                                                      'insecure-skip-tls-verify': True}}],
           'users': [{'name': 'blue', 'user': {'token': token}}, {'name': 'green', 'user': {'token': 'tok-green'}}],
           'contexts': [{'name': 'blue', 'context': {'cluster': 'blue', 'user': 'blue'}},
                        {'name': 'green', 'context': {'cluster': 'green', 'user': 'green'}}]}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def auth(cfg):
    return cfg.auth_settings()['BearerToken']['value']


def test_kubeconfig_and_context(tmp_path):
    path = kubeconfig(tmp_path / 'kc')
    cfg = k8s.api_configuration(connection.resolve({'kubeconfig': path}, environ={}))
    assert cfg.host == 'https://blue:6443' and auth(cfg) == 'Bearer tok-blue'
    cfg = k8s.api_configuration(connection.resolve({'kubeconfig': path, 'context': 'green'}, environ={}))
    assert cfg.host == 'https://green:6443' and auth(cfg) == 'Bearer tok-green' and cfg.verify_ssl is False
    cfg = k8s.api_configuration(connection.resolve({}, environ={'KUBECONFIG': path, 'K8S_CURRENT_CONTEXT': 'green'}))
    assert cfg.host == 'https://green:6443'


def test_calicoctl_overrides(tmp_path):
    path = kubeconfig(tmp_path / 'kc')
    settings = connection.resolve({}, environ={'KUBECONFIG': path, 'K8S_API_ENDPOINT': 'https://other:443',
                                               'K8S_CA_FILE': '/ca.pem', 'CALICO_K8SAPITOKEN': 'tok-env',
                                               'K8S_INSECURE_SKIP_TLS_VERIFY': 'true'})
    cfg = k8s.api_configuration(settings)
    assert (cfg.host, cfg.ssl_ca_cert, auth(cfg), cfg.verify_ssl) \
        == ('https://other:443', '/ca.pem', 'Bearer tok-env', False)
    cfg = k8s.api_configuration(connection.resolve({}, environ={'K8S_API_ENDPOINT': 'https://only:443'}))
    assert cfg.host == 'https://only:443'


def test_inline_kubeconfig_from_config_file(tmp_path):
    inline = (tmp_path / 'kc')
    kubeconfig(inline)
    cfg_file = tmp_path / 'calicoctl.cfg'
    cfg_file.write_text(yaml.safe_dump({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                                        'spec': {'kubeconfigInline': inline.read_text(),
                                                 'k8sCurrentContext': 'green'}}))
    cfg = k8s.api_configuration(connection.resolve({'config_file': str(cfg_file)}, environ={}))
    assert cfg.host == 'https://green:6443'


@pytest.mark.parametrize('content, message', [
    (None, 'cannot use kubeconfig'),
    ('clusters: [\n  token: sekr3t\n', 'is not valid YAML'),
])
def test_bad_kubeconfig(tmp_path, content, message):
    path = tmp_path / 'kc'
    if content is not None:
        path.write_text(content)
    with pytest.raises(errors.ConfigurationError) as info:
        k8s.api_configuration(connection.resolve({'kubeconfig': str(path)}, environ={}))
    assert message in str(info.value) and 'sekr3t' not in str(info.value)


def test_unknown_context(tmp_path):
    path = kubeconfig(tmp_path / 'kc', token='sekr3t')
    with pytest.raises(errors.ConfigurationError) as info:
        k8s.api_configuration(connection.resolve({'kubeconfig': path, 'context': 'red'}, environ={}))
    assert '(context red)' in str(info.value) and 'sekr3t' not in str(info.value)


def test_no_kubeconfig_and_not_in_a_pod(monkeypatch):
    monkeypatch.delenv('KUBERNETES_SERVICE_HOST', raising=False)
    with pytest.raises(errors.ConfigurationError, match='no Kubernetes API to talk to'):
        k8s.api_configuration(connection.resolve({}, environ={}))
