# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transport to etcd v3 through its JSON gateway (``/v3/kv/range``, ``/v3/kv/txn``,
``/v3/kv/deleterange``, ``/v3/auth/authenticate``), with ``requests``.

Writes are transactions with the compares libcalico-go uses (libcalico-go/lib/backend/etcdv3/
etcdv3.go, v3.31.0): create only if the key does not exist, update and delete only if the key's
mod revision is the one read. A failed compare raises ``AlreadyExists``/``Conflict`` carrying what
the key holds now (``current``, read in the same transaction) or ``NotFound``.

Several endpoints: requests go to the endpoint that answered last; on a connection error the
next one is tried. Reads (range) go round twice, with a short pause; a write moves on only when
the request cannot have reached the server (connection refused, connect timeout, TLS handshake),
otherwise it fails at once saying that it may have been applied. When no endpoint answers,
``DatastoreUnreachable`` names every endpoint tried and why.

Every HTTP request sent is counted in ``client.requests`` (a Counter keyed ``range``, ``get``,
``create``, ``update``, ``delete``, ``authenticate``). ``read_only=True`` (check mode) makes the
write methods (``WRITE_METHODS``) raise ``ReadOnlyViolation`` before anything is sent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import collections
import os
import shutil
import tempfile
import time
import traceback

from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import (
    AlreadyExists, ConfigurationError, Conflict, DatastoreError, DatastoreUnreachable, Forbidden,
    Invalid, MissingDependency, NotFound, ReadOnlyViolation, describe_connection_error,
    failed_before_sending, redact_url)

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

KeyValue = collections.namedtuple('KeyValue', 'key value mod_revision create_revision')
KeyValue.__doc__ = 'One etcd key: key (str), value (bytes), mod_revision and create_revision (int).'
RangeResult = collections.namedtuple('RangeResult', 'kvs revision')
RangeResult.__doc__ = 'A range: kvs (list of KeyValue, sorted by key) and the store revision it was read at.'

WRITE_METHODS = ('create', 'update', 'delete')
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
READ_ROUNDS = 2
ROUND_PAUSE = 0.5
# gRPC status codes the gateway passes on (google.golang.org/grpc/codes).
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
GRPC_PERMISSION_DENIED = 7
GRPC_FAILED_PRECONDITION = 9
GRPC_UNAVAILABLE = 14
GRPC_UNAUTHENTICATED = 16
AUTH_TOKEN_ERRORS = ('invalid auth token', 'user name is empty', 'auth token is expired')


def _b64(value):
    raw = value.encode('utf-8') if not isinstance(value, bytes) else value
    return base64.b64encode(raw).decode('ascii')


def _unb64(value):
    return base64.b64decode(value) if value else b''


def prefix_end(prefix):
    """The range_end that selects every key starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    raw = bytearray(prefix.encode('utf-8') if not isinstance(prefix, bytes) else prefix)
    for index in range(len(raw) - 1, -1, -1):
        if raw[index] < 0xff:
            raw[index] += 1
            return bytes(raw[:index + 1])
    return b'\0'  # every key


def _kv(item):
    return KeyValue(_unb64(item.get('key')).decode('utf-8'), _unb64(item.get('value')),
                    int(item.get('mod_revision') or 0), int(item.get('create_revision') or 0))


def _revision(reply):
    return int((reply.get('header') or {}).get('revision') or 0)


class EtcdClient(object):
    """A client of etcd's v3 JSON gateway. ``endpoints`` are URLs (``https://10.0.0.1:2379``);
    ``ca_cert``, ``cert``, ``key`` file paths; ``username``/``password`` for etcd authentication
    (used only when both are set, as calicoctl does)."""

    WRITE_METHODS = WRITE_METHODS

    def __init__(self, endpoints, ca_cert=None, cert=None, key=None, username=None, password=None,
                 read_only=False, timeout=DEFAULT_TIMEOUT, session=None, sleep=None):
        if not HAS_REQUESTS:
            raise MissingDependency('requests', REQUESTS_IMPORT_ERROR)
        if not endpoints:
            raise ConfigurationError('no etcd endpoints specified')
        if bool(cert) != bool(key):
            raise ConfigurationError('an etcd client certificate needs its key: give both or neither')
        self.endpoints = [e.rstrip('/') for e in endpoints]
        self.read_only = read_only
        self.timeout = timeout
        self.requests = collections.Counter()
        self._verify = ca_cert or True
        self._cert = (cert, key) if cert else None
        self._auth = (username, password) if username and password else None
        self._tokens = {}
        self._current = 0
        self._sleep = sleep or time.sleep
        self._session = session or requests.Session()
        # Straight to etcd: no proxy, .netrc or CA bundle from the environment.
        self._session.trust_env = False
        self._tempdir = None

    @classmethod
    def from_settings(cls, settings, **kwargs):
        """A client for resolved ``connection.Settings`` (certificates given inline in the
        calicoctl config file are written to a private temporary folder, removed by close())."""
        if not HAS_REQUESTS:
            raise MissingDependency('requests', REQUESTS_IMPORT_ERROR)
        files = {'ca_cert': settings.etcd_ca_cert_file, 'cert': settings.etcd_cert_file,
                 'key': settings.etcd_key_file}
        tempdir = None
        inline = {'ca_cert': settings.etcd_ca_cert_inline, 'cert': settings.etcd_cert_inline,
                  'key': settings.etcd_key_inline}
        if any(inline.values()):
            tempdir = tempfile.mkdtemp(prefix='k8snet-calico-etcd-')
            atexit.register(shutil.rmtree, tempdir, True)
            for name, content in inline.items():
                if content:
                    path = os.path.join(tempdir, name + '.pem')
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, 'w') as handle:
                        handle.write(content)
                    files[name] = path
        for name in ('ca_cert', 'cert', 'key'):
            if files[name] and not inline[name] and not os.path.isfile(files[name]):
                raise ConfigurationError('etcd %s file %s does not exist' % (
                    {'ca_cert': 'CA certificate', 'cert': 'client certificate', 'key': 'client key'}[name],
                    files[name]))
        client = cls(settings.etcd_endpoints, ca_cert=files['ca_cert'], cert=files['cert'], key=files['key'],
                     username=settings.etcd_username, password=settings.etcd_password, **kwargs)
        client._tempdir = tempdir
        return client

    def close(self):
        self._session.close()
        if self._tempdir:
            shutil.rmtree(self._tempdir, True)
            self._tempdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- reads --------------------------------------------------------------------------------
    def range_prefix(self, prefix):
        """Every key under ``prefix``: ``RangeResult(kvs, revision)``; unpacks as a tuple."""
        reply = self._post('range', '/v3/kv/range', {
            'key': _b64(prefix), 'range_end': _b64(prefix_end(prefix)),
            'sort_order': 'ASCEND', 'sort_target': 'KEY'}, write=False)
        return RangeResult([_kv(item) for item in reply.get('kvs') or []], _revision(reply))

    def get(self, key):
        """The ``KeyValue`` of ``key``; ``NotFound`` when it does not exist."""
        reply = self._post('get', '/v3/kv/range', {'key': _b64(key)}, write=False)
        kvs = reply.get('kvs') or []
        if not kvs:
            raise NotFound('etcd key %s does not exist' % key, endpoint=self._endpoint())
        return _kv(kvs[0])

    def revision(self):
        """The store's current revision (one cheap range request)."""
        reply = self._post('range', '/v3/kv/range', {'key': _b64('\0'), 'count_only': True}, write=False)
        return _revision(reply)

    # -- writes -------------------------------------------------------------------------------
    def create(self, key, value):
        """Puts ``key`` if it does not exist; returns its mod (= create) revision.
        ``AlreadyExists`` (with ``current``) when it does."""
        self._guard('create')
        reply = self._txn('create', key, {'key': _b64(key), 'target': 'CREATE', 'result': 'EQUAL',
                                          'create_revision': '0'},
                          {'request_put': {'key': _b64(key), 'value': _b64(value)}})
        if not reply.get('succeeded'):
            current = self._failure_kv(reply)
            raise AlreadyExists('etcd key %s already exists (mod revision %s)'
                                % (key, current.mod_revision if current else '?'),
                                endpoint=self._endpoint(), current=current)
        return _revision(reply)

    def update(self, key, value, mod_revision):
        """Puts ``key`` if its mod revision is still ``mod_revision``; returns the new one.
        ``Conflict`` (with ``current``) when it changed, ``NotFound`` when it is gone."""
        self._guard('update')
        reply = self._txn('update', key, self._mod_compare(key, mod_revision),
                          {'request_put': {'key': _b64(key), 'value': _b64(value)}})
        if not reply.get('succeeded'):
            self._compare_failed(key, mod_revision, reply)
        return _revision(reply)

    def delete(self, key, mod_revision=None):
        """Deletes ``key`` (if its mod revision is still ``mod_revision``, when given); returns
        the deleted ``KeyValue``. ``Conflict``/``NotFound`` as for update."""
        self._guard('delete')
        compare = self._mod_compare(key, mod_revision) if mod_revision is not None else None
        reply = self._txn('delete', key, compare,
                          {'request_delete_range': {'key': _b64(key), 'prev_kv': True}})
        if not reply.get('succeeded'):
            self._compare_failed(key, mod_revision, reply)
        deleted = ((reply.get('responses') or [{}])[0].get('response_delete_range') or {})
        previous = deleted.get('prev_kvs') or []
        if not previous:
            raise NotFound('etcd key %s does not exist' % key, endpoint=self._endpoint())
        return _kv(previous[0])

    # -- internals ----------------------------------------------------------------------------
    def _guard(self, verb):
        if self.read_only:
            raise ReadOnlyViolation('etcd %s on a read-only (check mode) client' % verb)

    @staticmethod
    def _mod_compare(key, mod_revision):
        return {'key': _b64(key), 'target': 'MOD', 'result': 'EQUAL', 'mod_revision': str(int(mod_revision))}

    def _txn(self, verb, key, compare, success):
        body = {'success': [success], 'failure': [{'request_range': {'key': _b64(key)}}]}
        if compare:
            body['compare'] = [compare]
        return self._post(verb, '/v3/kv/txn', body, write=True)

    @staticmethod
    def _failure_kv(reply):
        for response in reply.get('responses') or []:
            kvs = (response.get('response_range') or {}).get('kvs') or []
            if kvs:
                return _kv(kvs[0])
        return None

    def _compare_failed(self, key, expected, reply):
        current = self._failure_kv(reply)
        if current is None:
            raise NotFound('etcd key %s does not exist' % key, endpoint=self._endpoint())
        raise Conflict('etcd key %s was modified: mod revision %d, expected %s'
                       % (key, current.mod_revision, expected),
                       endpoint=self._endpoint(), current=current)

    def _endpoint(self):
        return self.endpoints[self._current]

    def _headers(self, endpoint, verb):
        headers = {'Content-Type': 'application/json'}
        if self._auth:
            token = self._tokens.get(endpoint)
            if token is None:
                token = self._authenticate(endpoint, verb)
            headers['Authorization'] = token
        return headers

    def _authenticate(self, endpoint, verb):
        self.requests['authenticate'] += 1
        response = self._session.post(endpoint + '/v3/auth/authenticate',
                                      json={'name': self._auth[0], 'password': self._auth[1]},
                                      timeout=self.timeout, verify=self._verify, cert=self._cert,
                                      allow_redirects=False)
        reply = self._reply(response)
        if response.status_code != 200 or not reply.get('token'):
            raise Forbidden('etcd at %s refused the user %s: %s'
                            % (redact_url(endpoint), self._auth[0], _grpc_message(reply, response)),
                            status=response.status_code, endpoint=endpoint)
        self._tokens[endpoint] = reply['token']
        return reply['token']

    @staticmethod
    def _reply(response):
        try:
            reply = response.json()
        except ValueError:
            return {}
        return reply if isinstance(reply, dict) else {}

    def _post(self, verb, path, body, write):
        order = self.endpoints[self._current:] + self.endpoints[:self._current]
        causes = collections.OrderedDict()
        rounds = 1 if write else READ_ROUNDS
        for round_number in range(rounds):
            if round_number:
                self._sleep(ROUND_PAUSE)
            for endpoint in order:
                reauthenticated = False
                while True:
                    try:
                        headers = self._headers(endpoint, verb)
                        self.requests[verb] += 1
                        response = self._session.post(endpoint + path, json=body, headers=headers,
                                                      timeout=self.timeout, verify=self._verify,
                                                      cert=self._cert, allow_redirects=False)
                    except requests.exceptions.RequestException as exc:
                        causes[redact_url(endpoint)] = _etcd_hint(describe_connection_error(
                            exc, https=endpoint.startswith('https:'), client_cert=self._cert is not None))
                        if write and not failed_before_sending(exc):
                            raise DatastoreUnreachable(
                                'etcd at %s did not answer the %s of %s: %s (it may or may not have '
                                'been applied)' % (redact_url(endpoint), verb, _key_of(body),
                                                   causes[redact_url(endpoint)]),
                                endpoints=[endpoint], causes=causes)
                        break
                    reply = self._reply(response)
                    if response.status_code == 200:
                        self._current = self.endpoints.index(endpoint)
                        return reply
                    message = _grpc_message(reply, response)
                    code = reply.get('code')
                    if self._auth and not reauthenticated and (
                            code == GRPC_UNAUTHENTICATED or any(t in message for t in AUTH_TOKEN_ERRORS)):
                        self._tokens.pop(endpoint, None)
                        reauthenticated = True
                        continue
                    if code == GRPC_UNAVAILABLE and not write:
                        causes[redact_url(endpoint)] = message
                        break
                    self._current = self.endpoints.index(endpoint)
                    raise _error(verb, _key_of(body), endpoint, response.status_code, code, message)
        names = ', '.join('%s (%s)' % item for item in causes.items())
        raise DatastoreUnreachable('etcd unreachable: the %s of %s failed on every endpoint: %s'
                                   % (verb, _key_of(body), names),
                                   endpoints=list(causes), causes=causes)


def _key_of(body):
    key = body.get('key')
    if key is None:
        for item in body.get('success') or []:
            for request in item.values():
                key = request.get('key')
    try:
        return _unb64(key).decode('utf-8') if key else '?'
    except (ValueError, UnicodeDecodeError):
        return '?'


def _grpc_message(reply, response):
    message = reply.get('message') or reply.get('error')
    if not message:
        message = ' '.join((response.text or '').split())[:300] or 'HTTP %d' % response.status_code
    return message


def _error(verb, key, endpoint, status, code, message):
    text = 'etcd %s of %s: %s (HTTP %d from %s)' % (verb, key, message, status, redact_url(endpoint))
    if 'user name is empty' in message:
        return Forbidden(text + ': etcd has authentication enabled, set etcd_username and etcd_password '
                         '(ETCD_USERNAME, ETCD_PASSWORD)', status=status, endpoint=endpoint)
    if code in (GRPC_UNAUTHENTICATED, GRPC_PERMISSION_DENIED) or status in (401, 403) \
            or 'permission denied' in message:
        return Forbidden(text, status=status, endpoint=endpoint)
    if code == GRPC_NOT_FOUND or status == 404:
        return NotFound(text, status=status, endpoint=endpoint)
    if code == GRPC_INVALID_ARGUMENT or status == 400:
        return Invalid(text, status=status, endpoint=endpoint)
    return DatastoreError(text, status=status, endpoint=endpoint)


def _etcd_hint(cause):
    if 'require a client certificate' in cause or 'requires a client certificate' in cause:
        return cause.replace('a client certificate',
                             'a client certificate (etcd_cert and etcd_key, or ETCD_CERT_FILE and ETCD_KEY_FILE)')
    if cause.endswith('(check the CA)'):
        return cause[:-len('(check the CA)')] + '(check etcd_ca_cert, ETCD_CA_CERT_FILE)'
    return cause
