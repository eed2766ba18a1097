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
