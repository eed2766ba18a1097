# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the datastore is: calicoctl's connection settings, resolved as calicoctl resolves them.

calicoctl (``calicoctl/commands/clientmgr/client.go`` and ``libcalico-go/lib/apiconfig/`` at
v3.31.0: ``apiconfig.go``, ``load.go``) reads **either** its config file **or** the environment,
never a mix of the two:

* the config file (``--config``, default ``/etc/calico/calicoctl.cfg``), a ``CalicoAPIConfig``
  YAML document, when it exists. A config file that was named explicitly and is missing is an
  error; the default one being absent means "read the environment".
* otherwise the environment, through ``envconfig.Process("calico", &spec)``: every field is read
  from ``CALICO_<NAME>`` first, then from ``<NAME>`` (``CALICO_DATASTORE_TYPE``, then
  ``DATASTORE_TYPE``). A variable that is set, even to the empty string, wins over the later one.
* then defaults (``applyConfigDefaults``): no datastore type -> ``etcdv3`` when etcd endpoints are
  set, else ``kubernetes``; for ``kubernetes`` without kubeconfig nor API endpoint,
  ``$HOME/.kube/config`` when that file exists, else the in-cluster configuration.

The module adds its own options on top, so the precedence is:

    module option  >  config file (when it exists)  >  environment variables  >  defaults

Because calicoctl never merges the file with the environment, an environment variable is ignored
whenever the config file exists. The options override field by field. If ``datastore`` is not
given but the options name only etcd settings (``etcd_endpoints``) or only Kubernetes ones
(``kubeconfig``, ``context``), the datastore they name is used.

Everything here is a plain function of (options, environ, read_file) so that it is unit-testable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import (
    ConfigurationError, redact_url)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    import traceback
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()

DATASTORES = ('kubernetes', 'etcdv3')
DEFAULT_CONFIG_FILE = '/etc/calico/calicoctl.cfg'
CONFIG_API_VERSION = 'projectcalico.org/v3'
CONFIG_KIND = 'CalicoAPIConfig'
ENV_PREFIX = 'CALICO_'

# The fields of CalicoAPIConfigSpec (libcalico-go/lib/apiconfig/apiconfig.go, v3.31.0):
# (JSON name in the config file, envconfig tag or None, Go type, attribute of Settings or None).
# A field without an envconfig tag is read from CALICO_<FIELDNAME> only (envconfig's rule);
# fields tagged ``ignored:"true"`` (the inline certificates and kubeconfig) are never read from
# the environment, on purpose ("to avoid accidental exposure"). ``k8sAPIToken`` is tagged
# ``ignore`` (sic), which envconfig does not know: calicoctl reads it from CALICO_K8SAPITOKEN.
SPEC_FIELDS = (
    ('datastoreType', 'DATASTORE_TYPE', 'str', 'datastore'),
    ('etcdEndpoints', 'ETCD_ENDPOINTS', 'str', 'etcd_endpoints'),
    ('etcdDiscoverySrv', 'ETCD_DISCOVERY_SRV', 'str', 'etcd_discovery_srv'),
    ('etcdUsername', 'ETCD_USERNAME', 'str', 'etcd_username'),
    ('etcdPassword', 'ETCD_PASSWORD', 'str', 'etcd_password'),
    ('etcdKeyFile', 'ETCD_KEY_FILE', 'str', 'etcd_key_file'),
    ('etcdCertFile', 'ETCD_CERT_FILE', 'str', 'etcd_cert_file'),
    ('etcdCACertFile', 'ETCD_CA_CERT_FILE', 'str', 'etcd_ca_cert_file'),
    ('etcdKey', None, 'inline', 'etcd_key_inline'),
    ('etcdCert', None, 'inline', 'etcd_cert_inline'),
    ('etcdCACert', None, 'inline', 'etcd_ca_cert_inline'),
    ('kubeconfig', 'KUBECONFIG', 'str', 'kubeconfig'),
    ('k8sAPIEndpoint', 'K8S_API_ENDPOINT', 'str', 'k8s_api_endpoint'),
    ('k8sKeyFile', 'K8S_KEY_FILE', 'str', 'k8s_key_file'),
    ('k8sCertFile', 'K8S_CERT_FILE', 'str', 'k8s_cert_file'),
    ('k8sCAFile', 'K8S_CA_FILE', 'str', 'k8s_ca_file'),
    ('k8sAPIToken', 'K8SAPITOKEN!', 'str', 'k8s_api_token'),
    ('k8sInsecureSkipTLSVerify', 'K8S_INSECURE_SKIP_TLS_VERIFY', 'bool', 'k8s_insecure_skip_tls_verify'),
    ('k8sDisableNodePoll', 'K8S_DISABLE_NODE_POLL', 'bool', None),
    ('usePodCIDR', 'USE_POD_CIDR', 'bool', None),
    ('kubeconfigInline', None, 'inline', 'kubeconfig_inline'),
    ('k8sClientQPS', 'K8SCLIENTQPS!', 'float', None),
    ('k8sCurrentContext', 'K8S_CURRENT_CONTEXT', 'str', 'context'),
)

# An option replaces the inline form of the same thing that a config file may hold.
OPTION_REPLACES_INLINE = {
    'kubeconfig': 'kubeconfig_inline',
    'etcd_ca_cert': 'etcd_ca_cert_inline',
    'etcd_cert': 'etcd_cert_inline',
    'etcd_key': 'etcd_key_inline',
}
# Module option -> (attribute of Settings, datastore the option belongs to).
OPTION_FIELDS = (
    ('datastore', 'datastore', None),
    ('kubeconfig', 'kubeconfig', 'kubernetes'),
    ('context', 'context', 'kubernetes'),
    ('etcd_endpoints', 'etcd_endpoints', 'etcdv3'),
    ('etcd_ca_cert', 'etcd_ca_cert_file', 'etcdv3'),
    ('etcd_cert', 'etcd_cert_file', 'etcdv3'),
    ('etcd_key', 'etcd_key_file', 'etcdv3'),
    ('etcd_username', 'etcd_username', 'etcdv3'),
    ('etcd_password', 'etcd_password', 'etcdv3'),
)
_TRUE = ('1', 't', 'T', 'TRUE', 'true', 'True')
_FALSE = ('0', 'f', 'F', 'FALSE', 'false', 'False')


def env_names(tag):
    """The variables envconfig reads for a field, in order (``CALICO_X`` then ``X``)."""
    if tag.endswith('!'):
        return (ENV_PREFIX + tag[:-1],)
    return (ENV_PREFIX + tag, tag)


def argument_spec():
    """The Ansible argument_spec of the connection options, shared by every module that talks to
    a datastore. Environment variables and the config file are resolved by ``resolve()``, not by
    Ansible fallbacks, because calicoctl ignores the environment when its config file exists."""
    return dict(
        datastore=dict(type='str', choices=list(DATASTORES)),
        config_file=dict(type='path'),
        kubeconfig=dict(type='path'),
        context=dict(type='str'),
        etcd_endpoints=dict(type='list', elements='str'),
        etcd_ca_cert=dict(type='path'),
        etcd_cert=dict(type='path'),
        # A path: the key's content never passes through the options, so the path may be shown.
        etcd_key=dict(type='path', no_log=False),
        etcd_username=dict(type='str'),
        etcd_password=dict(type='str', no_log=True),
        # Not a calicoctl setting: where Calico resources live in the kubernetes datastore.
        api=dict(type='str', choices=['auto', 'crd', 'projectcalico.org/v3'], default='auto'),
    )


CONNECTION_OPTIONS = tuple(sorted(argument_spec()))


class Settings(object):
    """Resolved connection settings. Unset fields are None (booleans False).

    ``source`` says where the settings came from (``'config file /etc/calico/calicoctl.cfg'``,
    ``'environment'``), ``origins`` maps each set attribute to its origin (``'option context'``,
    ``'env KUBECONFIG'``, ``'config file'``, ``'default'``). ``describe()`` is safe to return to
    the user; ``repr()`` is ``describe()``: secrets are never part of either."""

    ATTRIBUTES = tuple(sorted(set(field[3] for field in SPEC_FIELDS if field[3]) | set(['config_file'])))

    def __init__(self, **values):
        for name in self.ATTRIBUTES:
            setattr(self, name, None)
        self.k8s_insecure_skip_tls_verify = False
        self.etcd_endpoints = []
        self.source = None
        self.origins = {}
        for name, value in values.items():
            if name not in self.ATTRIBUTES and name not in ('source', 'origins'):
                raise TypeError('unknown setting %s' % name)
            setattr(self, name, value)

    @property
    def etcd_tls(self):
        return bool(self.etcd_ca_cert_file or self.etcd_cert_file or self.etcd_key_file
                    or self.etcd_ca_cert_inline or self.etcd_cert_inline or self.etcd_key_inline)

    def describe(self):
        """What the user may see: the datastore and where it is, no secret."""
        out = {'datastore': self.datastore, 'source': self.source}
        if self.config_file:
            out['config_file'] = self.config_file
        if self.datastore == 'etcdv3':
            out['etcd_endpoints'] = list(self.etcd_endpoints)
            out['etcd_client_certificate'] = bool(self.etcd_cert_file or self.etcd_cert_inline)
            out['etcd_authentication'] = bool(self.etcd_username and self.etcd_password)
        else:
            if self.kubeconfig_inline:
                out['kubeconfig'] = '(inline in the config file)'
            elif self.kubeconfig:
                out['kubeconfig'] = self.kubeconfig
            for name in ('context', 'k8s_api_endpoint'):
                if getattr(self, name):
                    out[name] = getattr(self, name)
            if not (self.kubeconfig or self.kubeconfig_inline or self.k8s_api_endpoint):
                out['in_cluster'] = True
        return out

    def __repr__(self):
        return 'Settings(%r)' % (self.describe(),)


def is_set(value):
    return value is not None and value != '' and value != []


def split_endpoints(value):
    """``ETCD_ENDPOINTS`` syntax (comma-separated) or a list -> list of stripped, non-empty URLs."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(',')
    out = []
    for item in items:
        for part in str(item).split(','):
            part = part.strip()
            if part:
                out.append(part)
    return out


def _parse_bool(value, where):
    if isinstance(value, bool):
        return value
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError('%s: %r is not a boolean (true or false)' % (where, value))


def read_environment(environ):
    """The spec fields calicoctl takes from ``environ``: {attribute: (value, variable name)}."""
    found = {}
    for json_name, tag, kind, attribute in SPEC_FIELDS:
        if tag is None or attribute is None:
            continue
        for name in env_names(tag):
            if name in environ:
                value = environ[name]
                if kind == 'bool':
                    value = _parse_bool(value, 'environment variable %s' % name)
                found[attribute] = (value, name)
                break
    return found


def parse_config_file(text, path):
    """A ``CalicoAPIConfig`` document -> {attribute: value}. Strict like calicoctl: unknown keys,
    another apiVersion or kind are errors. Go's JSON decoding matches keys case-insensitively."""
    if not HAS_YAML:
        raise ConfigurationError('PyYAML is required to read %s' % path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' (line %d)' % (mark.line + 1) if mark is not None else ''
        raise ConfigurationError('syntax error in %s%s: not YAML' % (path, where))
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigurationError('syntax error in %s: expected a CalicoAPIConfig mapping' % path)
    top = dict((str(key).lower(), (key, value)) for key, value in document.items())
    for lowered, (key, value) in top.items():
        if lowered not in ('apiversion', 'kind', 'metadata', 'spec'):
            raise ConfigurationError('syntax error in %s: unknown field "%s"' % (path, key))
    api_version = top.get('apiversion', (None, ''))[1] or ''
    kind = top.get('kind', (None, ''))[1] or ''
    if api_version != CONFIG_API_VERSION:
        raise ConfigurationError("invalid config file %s: unknown APIVersion '%s'" % (path, api_version))
    if kind != CONFIG_KIND:
        raise ConfigurationError("invalid config file %s: expected kind '%s', got '%s'"
                                 % (path, CONFIG_KIND, kind))
    spec = top.get('spec', (None, None))[1] or {}
    if not isinstance(spec, dict):
        raise ConfigurationError('syntax error in %s: spec is not a mapping' % path)
    fields = dict((json_name.lower(), (json_name, kind_, attribute))
                  for json_name, tag, kind_, attribute in SPEC_FIELDS)
    found = {}
    for key, value in spec.items():
        known = fields.get(str(key).lower())
        if known is None:
            raise ConfigurationError('syntax error in %s: unknown field "spec.%s"' % (path, key))
        json_name, kind_, attribute = known
        if value is None:
            continue
        where = '%s: spec.%s' % (path, json_name)
        if kind_ == 'bool':
            if not isinstance(value, bool):
                raise ConfigurationError('%s: %r is not a boolean' % (where, value))
        elif kind_ == 'float':
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError('%s: %r is not a number' % (where, value))
        elif not isinstance(value, str):
            # Never echo the value: it may be an inline key or a kubeconfig.
            raise ConfigurationError('%s: expected a string' % where)
        if attribute:
            found[attribute] = value
    return found


def _default_read_file(path):
    with open(path, 'r') as handle:
        return handle.read()


def _absent(exc):
    return isinstance(exc, (IOError, OSError)) and getattr(exc, 'errno', None) in (errno.ENOENT, errno.ENOTDIR)


def resolve(options, environ=None, read_file=None, file_exists=None):
    """Resolves the connection settings.

    ``options``: the module's parameters (only the keys of ``argument_spec()`` are read; None or
    '' means not given). ``environ``: the environment (default ``os.environ``). ``read_file(path)``
    returns a file's text and raises ``OSError``/``IOError`` (ENOENT when it does not exist).
    ``file_exists(path)`` tells whether ``$HOME/.kube/config`` exists. Returns ``Settings``;
    raises ``ConfigurationError``.
    """
    environ = os.environ if environ is None else environ
    read_file = read_file or _default_read_file
    file_exists = file_exists or os.path.isfile
    options = dict((key, value) for key, value in (options or {}).items() if is_set(value))

    settings = Settings()
    explicit_file = options.get('config_file')
    path = explicit_file or DEFAULT_CONFIG_FILE
    text = None
    try:
        text = read_file(path)
    except (IOError, OSError) as exc:
        if explicit_file or not _absent(exc):
            raise ConfigurationError('config file %s cannot be read: %s'
                                     % (path, getattr(exc, 'strerror', None) or exc))
    if text is not None:
        settings.source = 'config file %s' % path
        settings.config_file = path
        for attribute, value in parse_config_file(text, path).items():
            if attribute == 'etcd_endpoints':
                value = split_endpoints(value)
            setattr(settings, attribute, value)
            settings.origins[attribute] = 'config file'
    else:
        settings.source = 'environment'
        for attribute, (value, name) in read_environment(environ).items():
            if attribute == 'etcd_endpoints':
                value = split_endpoints(value)
            setattr(settings, attribute, value)
            settings.origins[attribute] = 'env %s' % name

    families = set()
    for option, attribute, family in OPTION_FIELDS:
        if option in options:
            value = options[option]
            if attribute == 'etcd_endpoints':
                value = split_endpoints(value)
            setattr(settings, attribute, value)
            settings.origins[attribute] = 'option %s' % option
            if option in OPTION_REPLACES_INLINE:
                setattr(settings, OPTION_REPLACES_INLINE[option], None)
                settings.origins.pop(OPTION_REPLACES_INLINE[option], None)
            if family:
                families.add(family)
    if 'datastore' not in options:
        if len(families) > 1:
            raise ConfigurationError('the options name settings of both datastores (%s): set datastore'
                                     % ', '.join(o for o, a, f in OPTION_FIELDS if f and o in options))
        if families:
            settings.datastore = families.pop()
            settings.origins['datastore'] = 'implied by the options'

    _apply_defaults(settings, environ, file_exists)
    _validate(settings)
    return settings


def _apply_defaults(settings, environ, file_exists):
    """libcalico-go's applyConfigDefaults."""
    if not settings.datastore:
        settings.datastore = 'etcdv3' if settings.etcd_endpoints else 'kubernetes'
        settings.origins['datastore'] = 'default'
    if settings.datastore == 'kubernetes':
        if not (settings.kubeconfig or settings.k8s_api_endpoint) and environ.get('HOME'):
            default = os.path.join(environ['HOME'], '.kube', 'config')
            if file_exists(default):
                settings.kubeconfig = default
                settings.origins['kubeconfig'] = 'default'


def _validate(settings):
    if settings.datastore not in DATASTORES:
        raise ConfigurationError('unknown datastore type %r (%s): use one of %s'
                                 % (settings.datastore, settings.origins.get('datastore', ''),
                                    ', '.join(DATASTORES)))
    if settings.datastore != 'etcdv3':
        return
    if settings.etcd_endpoints and settings.etcd_discovery_srv:
        raise ConfigurationError('multiple discovery or bootstrap options specified, use either etcd '
                                 'endpoints or ETCD_DISCOVERY_SRV (etcdDiscoverySrv)')
    if not settings.etcd_endpoints:
        if settings.etcd_discovery_srv:
            raise ConfigurationError('etcd discovery through DNS SRV records (ETCD_DISCOVERY_SRV) is not '
                                     'supported: give the endpoints (etcd_endpoints or ETCD_ENDPOINTS)')
        raise ConfigurationError('no etcd endpoints specified: set etcd_endpoints, ETCD_ENDPOINTS or '
                                 'etcdEndpoints in the config file (%s)' % settings.source)
    inline = settings.etcd_ca_cert_inline or settings.etcd_cert_inline or settings.etcd_key_inline
    files = settings.etcd_ca_cert_file or settings.etcd_cert_file or settings.etcd_key_file
    if inline and files:
        raise ConfigurationError('cannot mix inline certificate-key (etcdCert, etcdKey, etcdCACert) and '
                                 'certificate / key files (etcd_cert, etcd_key, etcd_ca_cert)')
    if bool(settings.etcd_cert_file) != bool(settings.etcd_key_file) \
            or bool(settings.etcd_cert_inline) != bool(settings.etcd_key_inline):
        raise ConfigurationError('an etcd client certificate needs its key: give both etcd_cert and '
                                 'etcd_key (ETCD_CERT_FILE and ETCD_KEY_FILE) or neither')
    default_scheme = 'https' if settings.etcd_tls else 'http'
    endpoints = []
    for endpoint in settings.etcd_endpoints:
        if '://' not in endpoint:
            endpoint = '%s://%s' % (default_scheme, endpoint)
        scheme = endpoint.split('://', 1)[0].lower()
        if scheme not in ('http', 'https') or not endpoint.split('://', 1)[1].strip('/'):
            raise ConfigurationError('etcd endpoint %r is not an http:// or https:// URL' % redact_url(endpoint))
        endpoints.append(endpoint.rstrip('/'))
    settings.etcd_endpoints = endpoints
