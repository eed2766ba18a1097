# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resolution of the connection settings as calicoctl resolves them: options > config file (when it
exists) > environment (CALICO_X, then X) > defaults; strict config file; validation."""

import errno
import re

import pytest
import yaml


from ansible_collections.k8snet.calico.plugins.doc_fragments.datastore import ModuleDocFragment
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import ConfigurationError

DEFAULT = connection.DEFAULT_CONFIG_FILE


def config_text(**spec):
    return yaml.safe_dump({'apiVersion': 'projectcalico.org/v3', 'kind': 'CalicoAPIConfig',
                           'metadata': {}, 'spec': spec})


class Files:
    """read_file/file_exists over a dict; a value that is an int is an errno to raise."""

    def __init__(self, files=None):
        self.files = dict(files or {})
        self.read = []

    def read_file(self, path):
        self.read.append(path)
        if path not in self.files:
            raise IOError(errno.ENOENT, 'No such file or directory', path)
        content = self.files[path]
        if isinstance(content, int):
            raise IOError(content, 'Permission denied', path)
        return content

    def exists(self, path):
        return path in self.files


def resolve(options=None, environ=None, files=None):
    fake = Files(files)
    return connection.resolve(options or {}, environ=environ or {}, read_file=fake.read_file,
                              file_exists=fake.exists)


ETCD_FILE = config_text(datastoreType='etcdv3', etcdEndpoints='https://file:2379',
                        etcdCACertFile='/file/ca.pem')
HOME_ENV = {'HOME': '/home/op'}
HOME_KUBECONFIG = '/home/op/.kube/config'


# Each row: options, environment, files, expected attributes (a subset), expected source.
PRECEDENCE = [
    pytest.param({}, {}, {}, {'datastore': 'kubernetes', 'kubeconfig': None}, 'environment',
                 id='nothing: kubernetes, in-cluster'),
    pytest.param({}, HOME_ENV, {HOME_KUBECONFIG: 'x'},
                 {'datastore': 'kubernetes', 'kubeconfig': HOME_KUBECONFIG}, 'environment',
                 id='default kubeconfig in HOME'),
    pytest.param({}, dict(HOME_ENV, K8S_API_ENDPOINT='https://api:6443'), {HOME_KUBECONFIG: 'x'},
                 {'kubeconfig': None, 'k8s_api_endpoint': 'https://api:6443'}, 'environment',
                 id='API endpoint: no default kubeconfig'),
    pytest.param({}, dict(HOME_ENV, KUBECONFIG='/k/a:/k/b'), {HOME_KUBECONFIG: 'x'},
                 {'kubeconfig': '/k/a:/k/b'}, 'environment', id='KUBECONFIG'),
    pytest.param({}, {'KUBECONFIG': '/k/plain', 'CALICO_KUBECONFIG': '/k/calico'}, {},
                 {'kubeconfig': '/k/calico'}, 'environment', id='CALICO_KUBECONFIG before KUBECONFIG'),
    pytest.param({}, {'ETCD_ENDPOINTS': 'http://e1:2379,http://e2:2379'}, {},
                 {'datastore': 'etcdv3', 'etcd_endpoints': ['http://e1:2379', 'http://e2:2379']},
                 'environment', id='etcd endpoints imply etcdv3'),
    pytest.param({}, {'DATASTORE_TYPE': 'kubernetes', 'ETCD_ENDPOINTS': 'http://e1:2379'}, {},
                 {'datastore': 'kubernetes'}, 'environment', id='DATASTORE_TYPE wins over the implication'),
    pytest.param({}, {'DATASTORE_TYPE': 'etcdv3', 'CALICO_DATASTORE_TYPE': 'kubernetes'}, {},
                 {'datastore': 'kubernetes'}, 'environment', id='CALICO_ prefix first'),
    pytest.param({}, {'CALICO_DATASTORE_TYPE': '', 'DATASTORE_TYPE': 'etcdv3', 'ETCD_ENDPOINTS': 'http://e:1'}, {},
                 {'datastore': 'etcdv3'}, 'environment',
                 id='empty CALICO_ variable hides the plain one, then the default applies'),
    pytest.param({}, {'K8S_CURRENT_CONTEXT': 'blue'}, {}, {'context': 'blue'}, 'environment',
                 id='K8S_CURRENT_CONTEXT (calicoctl --context)'),
    pytest.param({}, {'DATASTORE_TYPE': 'kubernetes', 'KUBECONFIG': '/k/env'}, {DEFAULT: ETCD_FILE},
                 {'datastore': 'etcdv3', 'etcd_endpoints': ['https://file:2379'], 'kubeconfig': None},
                 'config file ' + DEFAULT, id='default config file: environment ignored'),
    pytest.param({}, {'ETCD_CA_CERT_FILE': '/env/ca.pem', 'ETCD_CERT_FILE': '/env/c.pem'}, {DEFAULT: ETCD_FILE},
                 {'etcd_ca_cert_file': '/file/ca.pem', 'etcd_cert_file': None}, 'config file ' + DEFAULT,
                 id='config file: no field-wise merge with the environment'),
    pytest.param({'config_file': '/cfg/other.cfg'}, {},
                 {'/cfg/other.cfg': config_text(kubeconfig='/k/file', k8sCurrentContext='green'),
                  DEFAULT: ETCD_FILE},
                 {'datastore': 'kubernetes', 'kubeconfig': '/k/file', 'context': 'green',
                  'config_file': '/cfg/other.cfg'}, 'config file /cfg/other.cfg', id='config_file option'),
    pytest.param({'etcd_endpoints': ['https://opt:2379']}, {}, {DEFAULT: ETCD_FILE},
                 {'etcd_endpoints': ['https://opt:2379'], 'etcd_ca_cert_file': '/file/ca.pem'},
                 'config file ' + DEFAULT, id='option over file, field by field'),
    pytest.param({'datastore': 'kubernetes', 'kubeconfig': '/k/opt'}, {}, {DEFAULT: ETCD_FILE},
                 {'datastore': 'kubernetes', 'kubeconfig': '/k/opt'}, 'config file ' + DEFAULT,
                 id='datastore option over file'),
    pytest.param({'kubeconfig': '/k/opt'}, {'DATASTORE_TYPE': 'etcdv3', 'ETCD_ENDPOINTS': 'http://e:1'}, {},
                 {'datastore': 'kubernetes', 'kubeconfig': '/k/opt'}, 'environment',
                 id='kubeconfig option implies kubernetes'),
    pytest.param({'context': 'red'}, {'K8S_CURRENT_CONTEXT': 'blue'}, {}, {'context': 'red'}, 'environment',
                 id='context option over env'),
    pytest.param({'context': 'red'}, {}, {DEFAULT: config_text(k8sCurrentContext='green')}, {'context': 'red'},
                 'config file ' + DEFAULT, id='context option also applies with a config file'),
    pytest.param({'etcd_endpoints': 'http://a:2379, http://b:2379'}, {'DATASTORE_TYPE': 'kubernetes'}, {},
                 {'datastore': 'etcdv3', 'etcd_endpoints': ['http://a:2379', 'http://b:2379']}, 'environment',
                 id='etcd_endpoints option (comma string) implies etcdv3'),
    pytest.param({'etcd_endpoints': ['10.0.0.1:2379'], 'etcd_ca_cert': '/o/ca.pem'}, {}, {},
                 {'etcd_endpoints': ['https://10.0.0.1:2379']}, 'environment', id='https default with TLS'),
    pytest.param({'etcd_endpoints': ['10.0.0.1:2379']}, {}, {},
                 {'etcd_endpoints': ['http://10.0.0.1:2379']}, 'environment', id='http default without TLS'),
    pytest.param({'datastore': 'etcdv3', 'etcd_endpoints': ['http://a:1'], 'etcd_username': 'u',
                  'etcd_password': 'p'}, {'ETCD_USERNAME': 'env'}, {},
                 {'etcd_username': 'u', 'etcd_password': 'p'}, 'environment', id='etcd auth options'),
    pytest.param({}, {'ETCD_ENDPOINTS': 'http://a:1', 'ETCD_USERNAME': 'u', 'ETCD_PASSWORD': 'p'}, {},
                 {'etcd_username': 'u', 'etcd_password': 'p'}, 'environment', id='etcd auth env'),
    pytest.param({'kubeconfig': None, 'context': '', 'etcd_endpoints': []}, {'KUBECONFIG': '/k/env'}, {},
                 {'kubeconfig': '/k/env', 'context': None}, 'environment', id='unset options are ignored'),
]


@pytest.mark.parametrize('options, environ, files, expected, source', PRECEDENCE)
def test_precedence(options, environ, files, expected, source):
    settings = resolve(options, environ, files)
    for name, value in expected.items():
        assert getattr(settings, name) == value, name
    assert settings.source == source


def test_origins_say_where_each_setting_came_from():
    settings = resolve({'context': 'red'}, dict(HOME_ENV, ETCD_CA_CERT_FILE='/x'), {HOME_KUBECONFIG: ''})
    assert settings.origins == {'context': 'option context', 'etcd_ca_cert_file': 'env ETCD_CA_CERT_FILE',
                                'datastore': 'implied by the options', 'kubeconfig': 'default'}


def test_k8s_overrides_from_environment():
    settings = resolve({}, {'K8S_API_ENDPOINT': 'https://api:6443', 'K8S_CA_FILE': '/ca',
                            'K8S_CERT_FILE': '/c', 'K8S_KEY_FILE': '/k', 'K8S_INSECURE_SKIP_TLS_VERIFY': 'true',
                            'K8S_API_TOKEN': 'not-read', 'CALICO_K8SAPITOKEN': 'tok'})
    assert (settings.k8s_api_endpoint, settings.k8s_ca_file, settings.k8s_cert_file, settings.k8s_key_file) \
        == ('https://api:6443', '/ca', '/c', '/k')
    assert settings.k8s_insecure_skip_tls_verify is True
    # apiconfig.go tags k8sAPIToken `ignore:"true"`, which envconfig does not know: it reads
    # CALICO_K8SAPITOKEN, never K8S_API_TOKEN.
    assert settings.k8s_api_token == 'tok'


@pytest.mark.parametrize('value', ['1', 't', 'TRUE', 'True', 'true'])
def test_bool_env_true(value):
    assert resolve({}, {'K8S_INSECURE_SKIP_TLS_VERIFY': value}).k8s_insecure_skip_tls_verify is True


@pytest.mark.parametrize('value', ['yes', '', 'on'])
def test_bool_env_invalid(value):
    # strconv.ParseBool rejects these; calicoctl fails to load its config.
    with pytest.raises(ConfigurationError, match='K8S_INSECURE_SKIP_TLS_VERIFY'):
        resolve({}, {'K8S_INSECURE_SKIP_TLS_VERIFY': value})


def test_inline_settings_are_never_read_from_environment():
    settings = resolve({}, {'ETCD_ENDPOINTS': 'http://a:1', 'CALICO_ETCDKEY': 'x', 'ETCDKEY': 'x',
                            'CALICO_KUBECONFIGINLINE': 'x'})
    assert settings.etcd_key_inline is None and settings.kubeconfig_inline is None


# -- config file --------------------------------------------------------------------------------
def test_explicit_config_file_must_exist():
    with pytest.raises(ConfigurationError, match='config file /nope.cfg cannot be read'):
        resolve({'config_file': '/nope.cfg'}, {'KUBECONFIG': '/k'})


def test_unreadable_default_config_file_is_an_error():
    with pytest.raises(ConfigurationError, match='cannot be read: Permission denied'):
        resolve({}, {}, {DEFAULT: errno.EACCES})


def test_config_file_keys_match_case_insensitively():
    text = ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n'
            '  DatastoreType: etcdv3\n  ETCDENDPOINTS: http://e:2379\n')
    settings = resolve({}, {}, {DEFAULT: text})
    assert settings.datastore == 'etcdv3' and settings.etcd_endpoints == ['http://e:2379']


def test_config_file_inline_and_options_replace_them():
    text = config_text(datastoreType='etcdv3', etcdEndpoints='https://e:2379', etcdCACert='CA PEM',
                       etcdCert='CERT PEM', etcdKey='KEY PEM')
    settings = resolve({}, {}, {DEFAULT: text})
    assert (settings.etcd_ca_cert_inline, settings.etcd_cert_inline, settings.etcd_key_inline) \
        == ('CA PEM', 'CERT PEM', 'KEY PEM')
    assert 'KEY PEM' not in repr(settings)
    replaced = resolve({'etcd_ca_cert': '/o/ca', 'etcd_cert': '/o/c', 'etcd_key': '/o/k'}, {}, {DEFAULT: text})
    assert replaced.etcd_key_inline is None and replaced.etcd_key_file == '/o/k'
    with pytest.raises(ConfigurationError, match='cannot mix inline'):
        resolve({'etcd_ca_cert': '/o/ca'}, {}, {DEFAULT: text})


@pytest.mark.parametrize('text, message', [
    ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastore: etcdv3\n',
     'unknown field "spec.datastore"'),
    ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nextra: 1\n', 'unknown field "extra"'),
    ('apiVersion: v1\nkind: CalicoAPIConfig\n', "unknown APIVersion 'v1'"),
    ('apiVersion: projectcalico.org/v3\nkind: Config\n', "expected kind 'CalicoAPIConfig', got 'Config'"),
    ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  k8sInsecureSkipTLSVerify: "yes"\n',
     'is not a boolean'),
    ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdKey: [1, 2]\n',
     'spec.etcdKey: expected a string'),
    ('apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec: [\n', 'not YAML'),
    ('- a\n', 'expected a CalicoAPIConfig mapping'),
    ('', "unknown APIVersion ''"),
])
def test_config_file_strict(text, message):
    with pytest.raises(ConfigurationError) as info:
        resolve({}, {}, {DEFAULT: text})
    assert message in str(info.value)
    assert DEFAULT in str(info.value)


def test_config_file_error_never_echoes_inline_secrets():
    text = config_text(etcdKey='-----BEGIN PRIVATE KEY-----SECRET', etcdCert=['x'])
    with pytest.raises(ConfigurationError) as info:
        resolve({}, {}, {DEFAULT: text})
    assert 'SECRET' not in str(info.value)


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize('options, environ, message', [
    ({'datastore': 'etcd'}, {}, "unknown datastore type 'etcd'"),
    ({}, {'DATASTORE_TYPE': 'consul'}, "unknown datastore type 'consul' (env DATASTORE_TYPE)"),
    ({'datastore': 'etcdv3'}, {}, 'no etcd endpoints specified'),
    ({}, {'DATASTORE_TYPE': 'etcdv3', 'ETCD_DISCOVERY_SRV': 'example.com'}, 'DNS SRV records'),
    ({}, {'ETCD_ENDPOINTS': 'http://a:1', 'ETCD_DISCOVERY_SRV': 'example.com'}, 'multiple discovery'),
    ({'etcd_endpoints': ['http://a:1'], 'etcd_cert': '/c'}, {}, 'needs its key'),
    ({'etcd_endpoints': ['http://a:1']}, {'ETCD_KEY_FILE': '/k'}, 'needs its key'),
    ({'etcd_endpoints': ['ftp://a:1']}, {}, 'is not an http:// or https:// URL'),
    ({'etcd_endpoints': ['https://user:pw@a:1', 'ftp://user:pw@b']}, {}, "'ftp://b'"),
    ({'kubeconfig': '/k', 'etcd_endpoints': ['http://a:1']}, {}, 'both datastores'),
])
def test_invalid_settings(options, environ, message):
    with pytest.raises(ConfigurationError) as info:
        resolve(options, environ)
    assert message in str(info.value)
    assert 'pw' not in str(info.value)


def test_describe_has_no_secret():
    settings = resolve({'etcd_endpoints': ['https://e:2379'], 'etcd_username': 'u', 'etcd_password': 'hunter2',
                        'etcd_cert': '/c', 'etcd_key': '/k'}, {})
    described = settings.describe()
    assert described == {'datastore': 'etcdv3', 'source': 'environment', 'etcd_endpoints': ['https://e:2379'],
                         'etcd_client_certificate': True, 'etcd_authentication': True}
    assert 'hunter2' not in repr(settings)
    token = resolve({}, {'CALICO_K8SAPITOKEN': 'tok3n', 'K8S_API_ENDPOINT': 'https://api'})
    assert 'tok3n' not in repr(token) and token.describe()['k8s_api_endpoint'] == 'https://api'


def test_split_endpoints():
    assert connection.split_endpoints(['a,b', ' c ', '']) == ['a', 'b', 'c']
    assert connection.split_endpoints(' a , ,b') == ['a', 'b']
    assert connection.split_endpoints(None) == []


def test_env_names_follow_envconfig():
    assert connection.env_names('ETCD_ENDPOINTS') == ('CALICO_ETCD_ENDPOINTS', 'ETCD_ENDPOINTS')
    assert connection.env_names('K8SAPITOKEN!') == ('CALICO_K8SAPITOKEN',)


# -- the shared argument spec and its documentation --------------------------------------------
def test_argument_spec_matches_doc_fragment():
    spec = connection.argument_spec()
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(spec) == set(documented)
    for name, entry in spec.items():
        doc = documented[name]
        assert entry['type'] == doc['type'], name
        assert entry.get('choices') == doc.get('choices'), name
        assert entry.get('elements') == doc.get('elements'), name
        assert entry.get('default') == doc.get('default'), name
    assert spec['etcd_password']['no_log'] is True
    assert spec['etcd_key']['no_log'] is False  # a path, stated explicitly for the no_log sanity check


def test_documented_environment_variables_exist_in_apiconfig():
    text = ModuleDocFragment.DOCUMENTATION
    known = set()
    for json_name, tag, kind, attribute in connection.SPEC_FIELDS:
        if tag:
            known.update(connection.env_names(tag))
    mentioned = set(re.findall(r'C\(((?:CALICO_)?[A-Z][A-Z0-9_]+)\)', text)) - set(['CALICO_'])
    assert mentioned - known == set()
    assert 'DATASTORE_TYPE' in mentioned and 'CALICO_K8SAPITOKEN' in mentioned
