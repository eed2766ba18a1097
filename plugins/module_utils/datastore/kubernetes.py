# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transport to the Kubernetes API: list/get/create/replace/patch/delete of a plural of a
group/version, as JSON dicts, over the ``kubernetes`` package's ApiClient.

The ApiClient is only used for what it does well: loading the kubeconfig (contexts, exec and
token plugins, client certificates, proxies) into a configured urllib3 pool. The requests are
sent on that pool directly, with urllib3's own retries off, so that this module decides:

* HTTP 429, and 5xx answers that carry ``Retry-After`` (client-go's rule), are retried after the
  time the server asks for (a CRD created a moment ago answers 429 until its storage is ready).
  The request was not processed, so this holds for writes too.
* connection errors (refused, reset, timeout, TLS) are retried with backoff for reads only
  (GET); a write fails at once, because it may have been applied. Then ``DatastoreUnreachable``
  names the server URL.
* 404 -> ``NotFound``, 409 -> ``AlreadyExists``/``Conflict``, 400/422 -> ``Invalid`` with the API's
  message and causes, 401/403 -> ``Forbidden``, anything else -> ``DatastoreError``.

Every HTTP request sent (retries included) is counted in ``client.requests``, a Counter keyed by
the method name (``list``, ``get``, ``create``, ``replace``, ``patch``, ``delete``, ``discover``,
``version``). Nothing is logged; no token, key or kubeconfig content enters an exception.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import time
import traceback

from urllib.parse import quote, urlencode

from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import (
    AlreadyExists, ConfigurationError, Conflict, DatastoreError, DatastoreUnreachable, Forbidden,
    Invalid, MissingDependency, NotFound, ReadOnlyViolation, describe_connection_error,
    failed_before_sending, redact_url)

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError:
    HAS_K8S = False
    K8S_IMPORT_ERROR = traceback.format_exc()

try:
    import yaml
    HAS_YAML = True
    _YAML_ERRORS = (yaml.YAMLError,)
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False
    _YAML_ERRORS = ()

USER_AGENT = 'k8snet.calico'
PATCH_TYPES = {
    'merge': 'application/merge-patch+json',
    'strategic': 'application/strategic-merge-patch+json',
    'json': 'application/json-patch+json',
    'apply': 'application/apply-patch+yaml',
}
DEFAULT_TIMEOUT = (5.0, 60.0)       # connect, read (seconds)
READ_BACKOFF = (0.2, 0.5, 1.0, 2.0)  # sleeps between read attempts after a connection error
RETRY_AFTER_BUDGET = 30.0            # total seconds spent honouring Retry-After per request
RETRY_AFTER_MAX = 10.0               # longest single Retry-After honoured


def api_configuration(settings):
    """A ``kubernetes.client.Configuration`` for resolved ``connection.Settings``, as calicoctl
    builds its rest.Config (libcalico-go/lib/backend/k8s/k8s.go, CreateKubernetesClientset):
    the kubeconfig (inline, a file or a list of files), else the API endpoint, else in-cluster;
    then the k8s* overrides (endpoint, CA, client certificate, token, insecure)."""
    if not HAS_K8S:
        raise MissingDependency('kubernetes', K8S_IMPORT_ERROR)
    cfg = k8s_client.Configuration()
    context = settings.context or None
    try:
        if settings.kubeconfig_inline:
            if not HAS_YAML:
                raise MissingDependency('PyYAML')
            try:
                data = yaml.safe_load(settings.kubeconfig_inline)
            except yaml.YAMLError:
                # Never echo the text: it holds credentials.
                raise ConfigurationError('kubeconfigInline of %s is not valid YAML' % settings.config_file)
            if not isinstance(data, dict):
                raise ConfigurationError('kubeconfigInline of %s is not a kubeconfig' % settings.config_file)
            k8s_config.load_kube_config_from_dict(data, context=context, client_configuration=cfg,
                                                  persist_config=False)
        elif settings.kubeconfig:
            k8s_config.load_kube_config(config_file=settings.kubeconfig, context=context,
                                        client_configuration=cfg, persist_config=False)
        elif settings.k8s_api_endpoint:
            cfg.host = settings.k8s_api_endpoint
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)
            except ConfigException:
                raise ConfigurationError(
                    'no Kubernetes API to talk to: set kubeconfig (or KUBECONFIG, or kubeconfig in '
                    'the calicoctl config file); there is no $HOME/.kube/config and this is not a pod')
    except ConfigException as exc:
        where = 'kubeconfigInline of %s' % settings.config_file if settings.kubeconfig_inline \
            else 'kubeconfig %s' % settings.kubeconfig
        raise ConfigurationError('cannot use %s%s: %s'
                                 % (where, ' (context %s)' % context if context else '', exc))
    except (IOError, OSError) as exc:
        raise ConfigurationError('cannot read kubeconfig %s: %s'
                                 % (settings.kubeconfig, getattr(exc, 'strerror', None) or exc))
    except _YAML_ERRORS as exc:
        mark = getattr(exc, 'problem_mark', None)
        raise ConfigurationError('kubeconfig %s is not valid YAML%s' % (
            settings.kubeconfig, ' (line %d)' % (mark.line + 1) if mark is not None else ''))
    if settings.k8s_api_endpoint:
        cfg.host = settings.k8s_api_endpoint
    if settings.k8s_ca_file:
        cfg.ssl_ca_cert = settings.k8s_ca_file
    if settings.k8s_cert_file:
        cfg.cert_file = settings.k8s_cert_file
    if settings.k8s_key_file:
        cfg.key_file = settings.k8s_key_file
    if settings.k8s_api_token:
        cfg.refresh_api_key_hook = None
        cfg.api_key = {'BearerToken': 'Bearer ' + settings.k8s_api_token}
        cfg.api_key_prefix = {}
    if settings.k8s_insecure_skip_tls_verify:
        cfg.verify_ssl = False
    return cfg


class KubernetesClient(object):
    """JSON over the Kubernetes API. ``group`` is '' for the core API (``/api/v1``).

    ``read_only=True`` (check mode) makes every write that is not a dry run raise
    ``ReadOnlyViolation`` before anything is sent. ``requests`` counts the HTTP requests sent."""

    def __init__(self, api_client, read_only=False, timeout=DEFAULT_TIMEOUT, sleep=None):
        self.api_client = api_client
        self.configuration = api_client.configuration
        self.host = self.configuration.host.rstrip('/')
        self.server = redact_url(self.host)
        self._pool = api_client.rest_client.pool_manager
        self.read_only = read_only
        self.timeout = timeout
        self.requests = collections.Counter()
        self.warnings = []
        self._sleep = sleep or time.sleep

    @classmethod
    def from_settings(cls, settings, **kwargs):
        if not HAS_K8S:
            raise MissingDependency('kubernetes', K8S_IMPORT_ERROR)
        return cls(k8s_client.ApiClient(configuration=api_configuration(settings)), **kwargs)

    def close(self):
        try:
            self.api_client.close()
        except Exception:  # pylint: disable=broad-except  # closing is best effort
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- paths -------------------------------------------------------------------------------
    @staticmethod
    def path(group, version, plural=None, name=None, namespace=None):
        base = '/apis/%s/%s' % (group, version) if group else '/api/%s' % version
        if namespace:
            base += '/namespaces/%s' % quote(namespace, safe='')
        if plural:
            base += '/' + plural
        if name is not None:
            if not name:
                raise ValueError('an empty object name')
            base += '/' + quote(name, safe='')
        return base

    @staticmethod
    def describe(group, version, plural, name=None, namespace=None):
        """``ippools.crd.projectcalico.org "pool-a"``: how errors name what was asked."""
        what = '%s.%s' % (plural, group) if group else plural
        what += '/' + version
        if name:
            what += ' "%s%s"' % ('%s/' % namespace if namespace else '', name)
        return what

    # -- the API -----------------------------------------------------------------------------
    def list(self, group, version, plural, namespace=None, label_selector=None, field_selector=None):
        """The List object (``items``, ``metadata.resourceVersion``)."""
        query = {}
        if label_selector:
            query['labelSelector'] = label_selector
        if field_selector:
            query['fieldSelector'] = field_selector
        return self._call('list', 'GET', self.path(group, version, plural, namespace=namespace), query,
                          what=self.describe(group, version, plural, namespace=namespace))

    def get(self, group, version, plural, name, namespace=None):
        return self._call('get', 'GET', self.path(group, version, plural, name, namespace),
                          what=self.describe(group, version, plural, name, namespace))

    def create(self, group, version, plural, obj, namespace=None, dry_run=False):
        """POSTs ``obj``; returns the stored object (as it would be, with ``dry_run``)."""
        namespace = namespace or _metadata(obj).get('namespace')
        self._guard('create', dry_run)
        return self._call('create', 'POST', self.path(group, version, plural, namespace=namespace),
                          self._write_query(dry_run), body=obj,
                          what=self.describe(group, version, plural, _metadata(obj).get('name'), namespace))

    def replace(self, group, version, plural, obj, namespace=None, dry_run=False):
        """PUTs ``obj``; its ``metadata.resourceVersion`` (when set) is the precondition: a stale
        one raises ``Conflict``."""
        meta = _metadata(obj)
        namespace = namespace or meta.get('namespace')
        self._guard('replace', dry_run)
        return self._call('replace', 'PUT', self.path(group, version, plural, meta.get('name') or '', namespace),
                          self._write_query(dry_run), body=obj,
                          what=self.describe(group, version, plural, meta.get('name'), namespace))

    def patch(self, group, version, plural, name, patch, patch_type='merge', namespace=None,
              dry_run=False, field_manager=None, force=False):
        """PATCHes with ``patch_type`` merge (RFC 7386), strategic (built-in kinds only), json
        (RFC 6902, a list of operations) or apply (server-side apply; ``field_manager`` needed)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError('patch_type must be one of %s' % ', '.join(sorted(PATCH_TYPES)))
        self._guard('patch', dry_run)
        query = self._write_query(dry_run)
        if patch_type == 'apply':
            if not field_manager:
                raise ValueError('a server-side apply patch needs field_manager')
            if force:
                query.append(('force', 'true'))
        if field_manager:
            query.append(('fieldManager', field_manager))
        return self._call('patch', 'PATCH', self.path(group, version, plural, name, namespace), query,
                          body=patch, content_type=PATCH_TYPES[patch_type],
                          what=self.describe(group, version, plural, name, namespace))

    def delete(self, group, version, plural, name, namespace=None, dry_run=False,
               resource_version=None, uid=None):
        """DELETEs, with ``resource_version``/``uid`` as preconditions (a mismatch raises
        ``Conflict``). Returns what the API answered (the object, or a Status)."""
        self._guard('delete', dry_run)
        body = None
        preconditions = {}
        if resource_version:
            preconditions['resourceVersion'] = str(resource_version)
        if uid:
            preconditions['uid'] = uid
        if preconditions:
            body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'preconditions': preconditions}
        return self._call('delete', 'DELETE', self.path(group, version, plural, name, namespace),
                          self._write_query(dry_run), body=body,
                          what=self.describe(group, version, plural, name, namespace))

    def discover(self, group):
        """The versions of ``group`` that the API serves now: {version: [plural, ...]}, preferred
        version first; {} when the group is not served. A version registered by an aggregated API
        server that does not answer (the Calico API server down) is left out, with a warning in
        ``client.warnings``. Use: ``'v3' in client.discover('projectcalico.org')``."""
        try:
            group_doc = self._call('discover', 'GET', '/apis/%s' % group, what='API group %s' % group)
        except NotFound:
            return collections.OrderedDict()
        versions = [v.get('version') for v in group_doc.get('versions') or [] if v.get('version')]
        preferred = (group_doc.get('preferredVersion') or {}).get('version')
        if preferred in versions:
            versions.remove(preferred)
            versions.insert(0, preferred)
        served = collections.OrderedDict()
        for version in versions:
            try:
                resources = self._call('discover', 'GET', '/apis/%s/%s' % (group, version),
                                       what='API %s/%s' % (group, version))
            except (NotFound, DatastoreUnreachable) as exc:
                self.warnings.append('%s/%s is registered but not served: %s' % (group, version, exc))
                continue
            except DatastoreError as exc:
                if exc.status is not None and exc.status >= 500:
                    self.warnings.append('%s/%s is registered but not served: %s' % (group, version, exc))
                    continue
                raise
            served[version] = [r.get('name') for r in resources.get('resources') or []
                               if r.get('name') and '/' not in r.get('name')]
        return served

    def server_version(self):
        """``/version``: ``{'major': '1', 'minor': '34', 'gitVersion': 'v1.34.1', ...}``."""
        return self._call('version', 'GET', '/version', what='server version')

    # -- internals ---------------------------------------------------------------------------
    def _guard(self, verb, dry_run):
        if self.read_only and not dry_run:
            raise ReadOnlyViolation('%s without dry run on a read-only (check mode) client' % verb)

    @staticmethod
    def _write_query(dry_run):
        return [('dryRun', 'All')] if dry_run else []

    def _headers(self, content_type):
        headers = {'Accept': 'application/json', 'User-Agent': USER_AGENT}
        if content_type:
            headers['Content-Type'] = content_type
        try:
            auth = self.configuration.auth_settings()
        except Exception as exc:  # pylint: disable=broad-except  # an exec/refresh plugin failed
            raise ConfigurationError('the kubeconfig credentials plugin failed: %s' % type(exc).__name__)
        for setting in auth.values():
            if setting.get('in') == 'header' and setting.get('value'):
                headers[setting['key']] = setting['value']
        return headers

    def _call(self, verb, method, path, query=None, body=None, content_type=None, what=''):
        if isinstance(query, dict):
            query = sorted(query.items())
        url = self.host + path + ('?' + urlencode(query) if query else '')
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            content_type = content_type or 'application/json'
        idempotent = method == 'GET'
        backoff = list(READ_BACKOFF) if idempotent else []
        waited = 0.0
        while True:
            headers = self._headers(content_type if data is not None else None)
            self.requests[verb] += 1
            try:
                response = self._pool.request(
                    method, url, body=data, headers=headers, retries=False, redirect=False,
                    preload_content=True,
                    timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]))
            except urllib3.exceptions.HTTPError as exc:
                if backoff:
                    self._sleep(backoff.pop(0))
                    continue
                raise self._unreachable(verb, what, exc, idempotent)
            status = response.status
            if status == 429 or (status >= 500 and _header(response, 'Retry-After')):
                delay = _retry_after(_header(response, 'Retry-After'))
                if waited + delay <= RETRY_AFTER_BUDGET:
                    waited += delay
                    self._sleep(delay)
                    continue
            if 200 <= status < 300:
                return _json(response.data)
            raise self._error(verb, what, status, response.data)

    def _unreachable(self, verb, what, exc, idempotent):
        cause = describe_connection_error(exc, https=self.host.startswith('https:'),
                                          client_cert=bool(self.configuration.cert_file))
        outcome = ''
        if not idempotent:
            outcome = ' (nothing was written)' if failed_before_sending(exc) \
                else ' (the %s may or may not have been applied)' % verb
        return DatastoreUnreachable('Kubernetes API at %s unreachable (%s %s): %s%s'
                                    % (self.server, verb, what, cause, outcome),
                                    endpoints=[self.host], causes={self.server: cause})

    def _error(self, verb, what, status, payload):
        doc = None
        try:
            doc = json.loads(payload.decode('utf-8')) if payload else None
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and doc.get('kind') == 'Status':
            api_message = doc.get('message') or ''
            reason = doc.get('reason')
            causes = (doc.get('details') or {}).get('causes') or []
        else:
            text = payload.decode('utf-8', 'replace') if payload else ''
            api_message = ' '.join(text.split())[:300]
            reason, causes = None, []
            if status == 404 and verb in ('list', 'get', 'create'):
                api_message += ' (the API does not serve this resource type: is its CRD installed?)'
        message = '%s %s: %s (HTTP %d%s from %s)' % (
            verb, what, api_message or 'no message', status, ' %s' % reason if reason else '', self.server)
        if status == 404:
            return NotFound(message, status=status, reason=reason, endpoint=self.host)
        if status == 409:
            if reason == 'AlreadyExists':
                return AlreadyExists(message, status=status, endpoint=self.host)
            return Conflict(message, status=status, reason=reason or 'Conflict', endpoint=self.host)
        if status in (400, 422):
            return Invalid(message, status=status, reason=reason, endpoint=self.host, causes=causes)
        if status in (401, 403):
            return Forbidden(message, status=status, reason=reason, endpoint=self.host)
        return DatastoreError(message, status=status, reason=reason, endpoint=self.host)


def _metadata(obj):
    return (obj or {}).get('metadata') or {}


def _header(response, name):
    headers = getattr(response, 'headers', None) or {}
    return headers.get(name)


def _retry_after(value):
    """Seconds to wait: an integer ``Retry-After`` (an HTTP date or garbage counts as 1 second),
    at most RETRY_AFTER_MAX, at least 0.1."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 1.0
    return min(max(seconds, 0.1), RETRY_AFTER_MAX)


def _json(payload):
    if not payload:
        return {}
    try:
        return json.loads(payload.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        raise DatastoreError('the Kubernetes API answered something that is not JSON')
