# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The errors of the datastore transport (Kubernetes API and etcd v3).

Every message is safe to show to the user and to log: it names the server (a URL without any
user information), the object and what the datastore answered, and never a token, password,
private key or the content of a kubeconfig.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import urlsplit, urlunsplit


def redact_url(url):
    """``url`` without user information (``https://user:secret@host`` -> ``https://host``)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<invalid URL>'
    if '@' not in parts.netloc:
        return url
    netloc = parts.netloc.rsplit('@', 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, '', ''))


class DatastoreError(Exception):
    """Base class. ``status`` is the HTTP status when there was an answer (None otherwise),
    ``reason`` the API's machine-readable reason (``AlreadyExists``, ``Conflict``, ...) when known,
    ``endpoint`` the server (URL without credentials)."""

    def __init__(self, message, status=None, reason=None, endpoint=None):
        super(DatastoreError, self).__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.endpoint = redact_url(endpoint) if endpoint else endpoint

    def __str__(self):
        return self.message


class ConfigurationError(DatastoreError):
    """The connection settings are unusable (unknown datastore, missing or malformed config file,
    certificate without key, no etcd endpoints, ...). Nothing was sent."""


class MissingDependency(ConfigurationError):
    """A Python library the transport needs is not installed. ``library`` is its pip name and
    ``import_error`` the original traceback text, for ``missing_required_lib``/``fail_json``."""

    def __init__(self, library, import_error=None):
        super(MissingDependency, self).__init__(
            'the Python library %s is required on the host that runs the module' % library)
        self.library = library
        self.import_error = import_error


class DatastoreUnreachable(DatastoreError):
    """No answer from the datastore (connection refused, timeout, TLS handshake failure).
    ``endpoints`` lists every URL tried; ``causes`` maps each to what went wrong."""

    def __init__(self, message, endpoints=None, causes=None):
        endpoints = [redact_url(e) for e in (endpoints or [])]
        super(DatastoreUnreachable, self).__init__(
            message, endpoint=endpoints[0] if endpoints else None)
        self.endpoints = endpoints
        self.causes = dict(causes or {})


class Conflict(DatastoreError):
    """The write lost a race: the object changed since it was read (Kubernetes 409 ``Conflict``,
    a failed etcd compare on the mod revision) or already exists (see ``AlreadyExists``).
    ``current`` is what the datastore holds now when it told us (etcd: a ``KeyValue``), else None.
    Retry on a fresh read."""

    def __init__(self, message, status=None, reason='Conflict', endpoint=None, current=None):
        super(Conflict, self).__init__(message, status=status, reason=reason, endpoint=endpoint)
        self.current = current


class AlreadyExists(Conflict):
    """A create found the object already there (Kubernetes 409 ``AlreadyExists``, etcd key with a
    create revision)."""

    def __init__(self, message, status=None, endpoint=None, current=None):
        super(AlreadyExists, self).__init__(message, status=status, reason='AlreadyExists',
                                            endpoint=endpoint, current=current)


class NotFound(DatastoreError):
    """The object (or the resource type: a CRD that is not installed) does not exist."""


class Invalid(DatastoreError):
    """The datastore rejected the request as invalid (HTTP 400/422). ``causes`` is the API's list
    of ``{'field': ..., 'message': ..., 'reason': ...}`` when it gave one."""

    def __init__(self, message, status=None, reason=None, endpoint=None, causes=None):
        super(Invalid, self).__init__(message, status=status, reason=reason, endpoint=endpoint)
        self.causes = list(causes or [])


class Forbidden(DatastoreError):
    """Authentication failed (401) or the identity may not do this (403)."""


class ReadOnlyViolation(DatastoreError):
    """A write was attempted on a client opened read-only (check mode). A bug in the caller:
    nothing was sent."""


# -- describing connection failures (shared by both transports) ---------------------------------
_CONNECT_PHASE = ('NewConnectionError', 'ConnectTimeoutError', 'NameResolutionError', 'ConnectTimeout',
                  'SSLError', 'SSLCertVerificationError')


def exception_chain(exc):
    """``exc`` and everything it wraps (exception args, urllib3's ``reason``, ``__cause__``,
    ``__context__``), outermost first."""
    seen, todo = [], [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend(a for a in getattr(item, 'args', ()) if isinstance(a, BaseException))
        for attribute in ('reason', '__cause__', '__context__'):
            todo.append(getattr(item, attribute, None))
    return seen


def _class_names(exc):
    return set(klass.__name__ for klass in type(exc).__mro__)


def failed_before_sending(exc):
    """True when a request that failed with ``exc`` cannot have reached the server's HTTP layer
    (connection refused, name resolution, connect timeout, TLS handshake): no write happened."""
    chain = exception_chain(exc)
    if any('ReadTimeoutError' in _class_names(item) or 'ReadTimeout' in _class_names(item) for item in chain):
        return False
    return any(_class_names(item) & set(_CONNECT_PHASE) for item in chain)


def describe_connection_error(exc, https=True, client_cert=False):
    """A short reason for a failed connection, with a hint for the usual TLS mistakes. Never
    contains request headers or bodies (urllib3/requests messages name host and port only)."""
    chain = exception_chain(exc)
    tls = [item for item in chain if 'SSLError' in _class_names(item)]
    if tls:
        innermost = tls[-1]
        text = str(getattr(innermost, 'reason', None) or innermost)
        full = ' '.join(str(item) for item in tls)
        if 'CERTIFICATE_REQUIRED' in full or 'certificate required' in full:
            hint = ('the server requires a client certificate' if not client_cert
                    else 'the server did not accept the client certificate')
            return 'TLS handshake failed (%s): %s' % (text, hint)
        if 'CERTIFICATE_VERIFY_FAILED' in full:
            return 'TLS handshake failed (%s): the server certificate is not trusted (check the CA)' % text
        if 'WRONG_VERSION_NUMBER' in full or 'record layer failure' in full:
            return 'TLS handshake failed (%s): does the server speak https on this port?' % text
        if 'EOF' in full:
            # A TLS 1.3 server that wants a client certificate may close before its alert is read.
            return 'TLS handshake failed (%s): the server closed the connection: %s' % (
                text, 'does it speak https on this port?' if client_cert
                else 'it may require a client certificate, or not speak https on this port')
        if 'UNKNOWN_CA' in full or 'BAD_CERTIFICATE' in full:
            return 'TLS handshake failed (%s): the server does not trust the client certificate' % text
        return 'TLS handshake failed (%s)' % text
    names = set()
    for item in chain:
        names |= _class_names(item)
    if names & set(('ConnectTimeoutError', 'ConnectTimeout')) and not names & set(('NewConnectionError',)):
        return 'connect timeout'
    if names & set(('ReadTimeoutError', 'ReadTimeout')):
        return 'no answer in time'
    if 'NameResolutionError' in names:
        return 'name resolution failed'
    for item in chain:
        if isinstance(item, OSError) and getattr(item, 'strerror', None):
            return item.strerror
    for item in chain:
        if 'NewConnectionError' in _class_names(item):
            text = str(item)
            marker = 'Failed to establish a new connection: '
            text = text.split(marker, 1)[1] if marker in text else 'connection failed'
            return re.sub(r'^\[Errno -?\d+\] ', '', text)
    for item in chain:
        if 'Connection aborted' in str(item) or 'RemoteDisconnected' in _class_names(item):
            return 'connection closed by the server%s' % ('' if https else ' (does the server want https?)')
    return type(exc).__name__
