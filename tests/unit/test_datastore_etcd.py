# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The etcd transport without a server: the gateway requests it sends, compare failures, failover
between endpoints, what a write does on a connection error, error mapping, authentication."""

import base64
import json
import os

import pytest
import requests


from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import etcd

A, B = 'http://a:2379', 'http://b:2379'


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def kv(key, value, mod, create):
    return {'key': b64(key), 'value': b64(value), 'mod_revision': str(mod), 'create_revision': str(create),
            'version': '1'}


class Reply:
    def __init__(self, status, body):
        self.status_code = status
        self.text = json.dumps(body) if not isinstance(body, str) else body

    def json(self):
        return json.loads(self.text)


class Session:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []
        self.trust_env = True

    def post(self, url, json=None, headers=None, **kwargs):  # pylint: disable=redefined-outer-name
        self.sent.append({'url': url, 'json': json, 'headers': dict(headers or {}), 'kwargs': kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self):
        pass


def client(*answers, **kwargs):
    endpoints = kwargs.pop('endpoints', [A])
    session = Session(*answers)
    sleeps = []
    return etcd.EtcdClient(endpoints, session=session, sleep=sleeps.append, **kwargs), session, sleeps


def refused():
    import urllib3
    inner = urllib3.exceptions.NewConnectionError(None, 'Failed to establish a new connection: '
                                                        '[Errno 111] Connection refused')
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, '/', inner))


HEADER = {'header': {'revision': '12'}}


def test_prefix_end():
    assert etcd.prefix_end('/calico/') == b'/calico0'
    assert etcd.prefix_end(b'a\xff') == b'b'
    assert etcd.prefix_end(b'\xff\xff') == b'\0'


def test_range_prefix():
    made, session, sleeps = client(Reply(200, dict(HEADER, kvs=[kv('/calico/a', '{"x":1}', 5, 3)], count='1')))
    result = made.range_prefix('/calico/')
    assert result == ([etcd.KeyValue('/calico/a', b'{"x":1}', 5, 3)], 12)
    kvs, revision = result
    assert result.revision == revision == 12
    sent = session.sent[0]
    assert sent['url'] == A + '/v3/kv/range'
    assert sent['json']['key'] == b64('/calico/') and sent['json']['range_end'] == b64('/calico0')
    assert made.requests == {'range': 1}
    assert session.trust_env is False


def test_empty_range_and_value():
    made, session, sleeps = client(Reply(200, HEADER), Reply(200, dict(HEADER, kvs=[{'key': b64('/k'),
                                                                                     'mod_revision': '2',
                                                                                     'create_revision': '2'}])))
    assert made.range_prefix('/x/') == ([], 12)
    assert made.get('/k') == ('/k', b'', 2, 2)


def test_get_missing_is_not_found():
    made, session, sleeps = client(Reply(200, HEADER))
    with pytest.raises(errors.NotFound, match='etcd key /calico/x does not exist'):
        made.get('/calico/x')


def test_create_sends_a_create_revision_compare():
    made, session, sleeps = client(Reply(200, dict(HEADER, succeeded=True, responses=[{'response_put': {}}])))
    assert made.create('/calico/a', b'v') == 12
    txn = session.sent[0]['json']
    assert session.sent[0]['url'] == A + '/v3/kv/txn'
    assert txn['compare'] == [{'key': b64('/calico/a'), 'target': 'CREATE', 'result': 'EQUAL',
                               'create_revision': '0'}]
    assert txn['success'] == [{'request_put': {'key': b64('/calico/a'), 'value': b64('v')}}]
    assert txn['failure'] == [{'request_range': {'key': b64('/calico/a')}}]


def test_create_existing_is_already_exists_with_current():
    made, session, sleeps = client(Reply(200, dict(HEADER, responses=[
        {'response_range': {'kvs': [kv('/calico/a', 'old', 7, 4)]}}])))
    with pytest.raises(errors.AlreadyExists) as info:
        made.create('/calico/a', 'new')
    assert info.value.current == ('/calico/a', b'old', 7, 4)
    assert isinstance(info.value, errors.Conflict)


def test_update_compare():
    made, session, sleeps = client(
        Reply(200, dict(HEADER, succeeded=True)),
        Reply(200, dict(HEADER, responses=[{'response_range': {'kvs': [kv('/k', 'x', 9, 4)]}}])),
        Reply(200, dict(HEADER, responses=[{'response_range': {}}])))
    assert made.update('/k', 'v', 7) == 12
    assert session.sent[0]['json']['compare'] == [{'key': b64('/k'), 'target': 'MOD', 'result': 'EQUAL',
                                                   'mod_revision': '7'}]
    with pytest.raises(errors.Conflict, match='etcd key /k was modified: mod revision 9, expected 7') as info:
        made.update('/k', 'v', 7)
    assert info.value.current.mod_revision == 9
    with pytest.raises(errors.NotFound):
        made.update('/k', 'v', 7)


def test_delete():
    made, session, sleeps = client(
        Reply(200, dict(HEADER, succeeded=True, responses=[{'response_delete_range': {
            'deleted': '1', 'prev_kvs': [kv('/k', 'x', 7, 4)]}}])),
        Reply(200, dict(HEADER, succeeded=True, responses=[{'response_delete_range': {}}])),
        Reply(200, dict(HEADER, responses=[{'response_range': {'kvs': [kv('/k', 'x', 9, 4)]}}])))
    assert made.delete('/k', 7) == ('/k', b'x', 7, 4)
    assert session.sent[0]['json']['success'] == [{'request_delete_range': {'key': b64('/k'), 'prev_kv': True}}]
    with pytest.raises(errors.NotFound):
        made.delete('/k')
    assert 'compare' not in session.sent[1]['json']
    with pytest.raises(errors.Conflict):
        made.delete('/k', 7)
    assert made.requests == {'delete': 3}


def test_read_only_refuses_every_write():
    made, session, sleeps = client(Reply(200, HEADER), read_only=True)
    for name in etcd.EtcdClient.WRITE_METHODS:
        args = {'create': ('/k', 'v'), 'update': ('/k', 'v', 1), 'delete': ('/k',)}[name]
        with pytest.raises(errors.ReadOnlyViolation):
            getattr(made, name)(*args)
    assert session.sent == []
    made.range_prefix('/')
    assert made.requests == {'range': 1}


def test_read_fails_over_and_sticks_to_the_endpoint_that_answered():
    made, session, sleeps = client(refused(), Reply(200, HEADER), Reply(200, HEADER), endpoints=[A, B])
    made.range_prefix('/')
    made.range_prefix('/')
    assert [s['url'] for s in session.sent] == [A + '/v3/kv/range', B + '/v3/kv/range', B + '/v3/kv/range']
    assert made.requests == {'range': 3} and sleeps == []


def test_unreachable_names_every_endpoint():
    made, session, sleeps = client(*[refused()] * 4, endpoints=[A, B])
    with pytest.raises(errors.DatastoreUnreachable) as info:
        made.get('/calico/k')
    text = str(info.value)
    assert text == ('etcd unreachable: the get of /calico/k failed on every endpoint: '
                    'http://a:2379 (Connection refused), http://b:2379 (Connection refused)')
    assert info.value.endpoints == [A, B]
    assert made.requests == {'get': 4} and sleeps == [etcd.ROUND_PAUSE]


def test_write_moves_on_only_when_nothing_was_sent():
    made, session, sleeps = client(refused(), Reply(200, dict(HEADER, succeeded=True)), endpoints=[A, B])
    assert made.create('/k', 'v') == 12
    made, session, sleeps = client(requests.exceptions.ReadTimeout('read timed out'), endpoints=[A, B])
    with pytest.raises(errors.DatastoreUnreachable, match='may or may not have been applied'):
        made.update('/k', 'v', 3)
    assert len(session.sent) == 1
    made, session, sleeps = client(refused(), refused(), endpoints=[A, B])
    with pytest.raises(errors.DatastoreUnreachable):
        made.delete('/k', 3)
    assert len(session.sent) == 2 and sleeps == []


def test_unavailable_member_is_skipped_for_reads():
    made, session, sleeps = client(Reply(503, {'code': 14, 'message': 'etcdserver: no leader'}),
                                   Reply(200, HEADER), endpoints=[A, B])
    assert made.range_prefix('/') == ([], 12)


@pytest.mark.parametrize('reply, error, text', [
    (Reply(403, {'code': 7, 'message': 'etcdserver: permission denied'}), errors.Forbidden, 'permission denied'),
    (Reply(400, {'code': 3, 'message': 'etcdserver: user name is empty'}), errors.Forbidden,
     'set etcd_username and etcd_password'),
    (Reply(400, {'code': 3, 'message': 'etcdserver: key is not provided'}), errors.Invalid, 'key is not provided'),
    (Reply(400, 'Client sent an HTTP request to an HTTPS server.'), errors.Invalid, 'HTTPS server'),
    (Reply(500, {'code': 13, 'message': 'etcdserver: request timed out'}), errors.DatastoreError, 'timed out'),
])
def test_error_mapping(reply, error, text):
    made, session, sleeps = client(reply)
    with pytest.raises(error) as info:
        made.create('/calico/k', 'v')
    assert type(info.value).__name__ == error.__name__  # exactly, not a subclass
    assert text in str(info.value)
    assert 'create of /calico/k' in str(info.value) and 'http://a:2379' in str(info.value)


def test_authentication_token_and_renewal():
    made, session, sleeps = client(
        Reply(200, dict(HEADER, token='tok1')), Reply(200, HEADER),
        Reply(401, {'code': 16, 'message': 'etcdserver: invalid auth token'}),
        Reply(200, dict(HEADER, token='tok2')), Reply(200, HEADER),
        username='calico', password='hunter2')
    made.range_prefix('/')
    made.range_prefix('/')
    assert [s['url'][len(A):] for s in session.sent] == ['/v3/auth/authenticate', '/v3/kv/range',
                                                         '/v3/kv/range', '/v3/auth/authenticate', '/v3/kv/range']
    assert session.sent[0]['json'] == {'name': 'calico', 'password': 'hunter2'}
    assert [s['headers'].get('Authorization') for s in session.sent[1:]] == ['tok1', 'tok1', None, 'tok2']
    assert made.requests == {'authenticate': 2, 'range': 3}


def test_authentication_failure_never_shows_the_password():
    made, session, sleeps = client(
        Reply(400, {'code': 3, 'message': 'etcdserver: authentication failed, invalid user ID or password'}),
        username='calico', password='hunter2')
    with pytest.raises(errors.Forbidden) as info:
        made.get('/k')
    assert 'refused the user calico' in str(info.value)
    assert 'hunter2' not in str(info.value) and 'hunter2' not in repr(vars(info.value))


def test_username_without_password_is_not_used():
    made, session, sleeps = client(Reply(200, HEADER), username='calico')
    made.revision()
    assert session.sent[0]['url'] == A + '/v3/kv/range'


def test_tls_parameters():
    made, session, sleeps = client(Reply(200, HEADER), ca_cert='/ca.pem', cert='/c.pem', key='/k.pem')
    made.revision()
    assert session.sent[0]['kwargs']['verify'] == '/ca.pem'
    assert session.sent[0]['kwargs']['cert'] == ('/c.pem', '/k.pem')
    with pytest.raises(errors.ConfigurationError):
        etcd.EtcdClient([A], cert='/c.pem')


def test_from_settings_writes_inline_certificates_privately_and_removes_them(tmp_path):
    cfg = tmp_path / 'calicoctl.cfg'
    cfg.write_text(json.dumps({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                               'spec': {'etcdEndpoints': 'https://e:2379', 'etcdCACert': 'CA',
                                        'etcdCert': 'CERT', 'etcdKey': 'KEY'}}))
    settings = connection.resolve({'config_file': str(cfg)}, environ={})
    made = etcd.EtcdClient.from_settings(settings, session=Session())
    key_file = made._cert[1]
    assert open(key_file).read() == 'KEY' and oct(os.stat(key_file).st_mode & 0o777) == '0o600'
    assert made._verify.endswith('ca_cert.pem')
    made.close()
    assert not os.path.exists(key_file)


def test_from_settings_missing_file():
    settings = connection.resolve({'etcd_endpoints': [A], 'etcd_ca_cert': '/nonexistent/ca.pem'}, environ={})
    with pytest.raises(errors.ConfigurationError, match='CA certificate file /nonexistent/ca.pem does not exist'):
        etcd.EtcdClient.from_settings(settings)
