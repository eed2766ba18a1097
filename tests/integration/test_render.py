# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/render.yml through real ansible-playbook runs, for every upstream release in
CALICO_UPSTREAM_DIR (default <repo>/../shared/upstream), fetched through file:// URLs.

For each release: the semantic difference between the rendered and the upstream manifest is
exactly the intended changes; every built-in object passes kubernetes-validate; every Calico
resource passes the openAPIV3Schema of its upstream CRD; --check writes nothing; a second run
changes nothing. Bad inventories fail before anything is written, naming the variable.
"""

import base64
import copy
import json
import os
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO_ROOT, upstream_dir

REPO = str(REPO_ROOT)
UPSTREAM = str(upstream_dir().resolve())
VENV = os.environ.get('K8SNET_VENV') or os.path.join(REPO, '.venv')
# scripts/test.sh matrix: another ansible-core release's ansible-playbook (see tests/playbook.py).
ANSIBLE_BIN_DIR = os.environ.get('K8SNET_ANSIBLE_BIN_DIR') or os.path.join(VENV, 'bin')
COLLECTIONS = os.environ.get('K8SNET_ANSIBLE_COLLECTIONS_PATH') or os.path.join(VENV, 'collections')

from ansible_collections.k8snet.calico.plugins.module_utils.manifest import cni  # noqa: E402
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.diff import MISSING, diff_objects  # noqa: E402

pytestmark = pytest.mark.playbook

KUBERNETES = '1.34'
PLAYBOOK = os.path.join(REPO, 'playbooks', 'render.yml')
REGISTRY = 'registry.example.internal'
POD_SPECS = {'DaemonSet': 'spec.template.spec', 'Deployment': 'spec.template.spec'}
CONFIG = 'ConfigMap kube-system/calico-config'
NODE = 'DaemonSet kube-system/calico-node: spec.template.spec.containers[calico-node]'


def releases():
    base = os.path.join(UPSTREAM, 'calico')
    found = sorted(name for name in os.listdir(base) if re.match(r'^v[0-9]', name)
                   and os.path.isfile(os.path.join(base, name, 'calico.yaml'))) if os.path.isdir(base) else []
    return found or ['(no release under %s)' % base]


def sha256_from_sources(release, name):
    """The sha256 SOURCES.md lists for calico/<release>/<name>, or None."""
    path = os.path.join(UPSTREAM, 'SOURCES.md')
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        for line in handle:
            cells = [cell.strip().strip('`') for cell in line.split('|')]
            if len(cells) > 5 and cells[3] == 'calico/%s/%s' % (release, name):
                return 'sha256:' + cells[5]
    return None


def read(path):
    with open(path) as handle:
        return handle.read()


def objects(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


class Run:
    def __init__(self, process, render_dir, cache_dir):
        self.rc = process.returncode
        self.output = process.stdout + process.stderr
        self.render_dir = render_dir
        self.cache_dir = cache_dir
        recap = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', self.output)
        self.changed = int(recap.group(2)) if recap else None

    def file(self, name):
        return read(os.path.join(self.render_dir, name))


def playbook(workdir, variables, release=None, check=False, diff=False, inventory=None, cwd=None):
    """Run render.yml with ``variables`` as extra vars (a file), caching and rendering under
    ``workdir`` unless ``variables`` says otherwise."""
    os.makedirs(str(workdir), exist_ok=True)
    variables = dict(variables)
    variables.setdefault('calico_manifest_cache_dir', os.path.join(str(workdir), 'cache'))
    if 'calico_render_dir' not in variables and cwd is None:
        variables['calico_render_dir'] = os.path.join(str(workdir), 'rendered')
    if release:
        variables.setdefault('calico_version', release)
        variables.setdefault('calico_manifest_base_url', 'file://%s/calico/{{ calico_version }}' % UPSTREAM)
    vars_file = os.path.join(str(workdir), 'vars-%d.json' % len(os.listdir(str(workdir))))
    with open(vars_file, 'w') as handle:
        json.dump(variables, handle)
    if inventory is None:
        inventory = os.path.join(str(workdir), 'hosts.yml')
        with open(inventory, 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {
                'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}, handle)
    command = [os.path.join(ANSIBLE_BIN_DIR, 'ansible-playbook'), '-i', inventory, PLAYBOOK, '-e', '@' + vars_file]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_DEPRECATION_WARNINGS='0',
               PATH=ANSIBLE_BIN_DIR + os.pathsep + os.environ.get('PATH', ''))
    cwd = cwd or str(workdir)
    env['PWD'] = cwd
    process = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=300, check=False)
    render_dir = variables.get('calico_render_dir') or os.path.join(cwd, 'rendered')
    return Run(process, render_dir, variables['calico_manifest_cache_dir'])


# --- what each scenario must change, computed from the upstream objects ----------------------


def find(objs, kind, name):
    for obj in objs:
        if obj['kind'] == kind and obj['metadata']['name'] == name:
            return obj
    raise AssertionError('upstream has no %s %s' % (kind, name))


def node_container(objs):
    node = find(objs, 'DaemonSet', 'calico-node')
    return [c for c in node['spec']['template']['spec']['containers'] if c['name'] == 'calico-node'][0]


def expected_changes(objs, registry=None, env=None, config=None, bandwidth=None, probes_without_bird=False,
                     typha_replicas=None, secret=None):
    """where -> (before, after) of every intended change; ``after`` may be a check function."""
    expected = {}
    if registry:
        for obj in objs:
            spec_path = POD_SPECS.get(obj['kind'])
            if not spec_path:
                continue
            spec = obj['spec']['template']['spec']
            for key in ('initContainers', 'containers'):
                for container in spec.get(key) or []:
                    image = container['image']
                    first, _sep, rest = image.partition('/')
                    rest = rest if ('.' in first or ':' in first) else image
                    where = '%s %s/%s: %s.%s[%s].image' % (
                        obj['kind'], obj['metadata']['namespace'], obj['metadata']['name'], spec_path, key,
                        container['name'])
                    expected[where] = (image, '%s/%s' % (registry, rest))
    container = node_container(objs)
    upstream_env = dict((e['name'], e) for e in container['env'])
    for name, value in (env or {}).items():
        if name not in upstream_env:
            expected['%s.env[%s]' % (NODE, name)] = (MISSING, {'name': name, 'value': value})
        elif upstream_env[name].get('value') != value:
            expected['%s.env[%s].value' % (NODE, name)] = (upstream_env[name]['value'], value)
    data = find(objs, 'ConfigMap', 'calico-config')['data']
    for key, value in (config or {}).items():
        if data.get(key, MISSING) != value:
            expected['%s: data.%s' % (CONFIG, key)] = (data.get(key, MISSING), value)
    template = data['cni_network_config']
    if bandwidth is not None and ('bandwidth' in cni.plugin_types(template)) != bandwidth:
        expected['%s: data.cni_network_config' % CONFIG] = (template, check_conflist(template, bandwidth))
    if probes_without_bird:
        for probe, flag in (('livenessProbe', '-bird-live'), ('readinessProbe', '-bird-ready')):
            command = container[probe]['exec']['command']
            if flag in command:
                expected['%s.%s.exec.command' % (NODE, probe)] = (command, [a for a in command if a != flag])
    if typha_replicas is not None:
        before = find(objs, 'Deployment', 'calico-typha')['spec']['replicas']
        if before != typha_replicas:
            expected['Deployment kube-system/calico-typha: spec.replicas'] = (before, typha_replicas)
    if secret is not None:
        expected['Secret kube-system/calico-etcd-secrets: data'] = (
            find(objs, 'Secret', 'calico-etcd-secrets').get('data'), secret)
    return expected


def check_conflist(before, bandwidth):
    """A check of the rendered conflist: the same JSON with the bandwidth plugin appended or
    removed, and the text outside that plugin unchanged."""
    def check(after):
        old, new = json_of(before), json_of(after)
        plain = [p for p in old['plugins'] if p.get('type') != 'bandwidth']
        wanted = plain + [{'type': 'bandwidth', 'capabilities': {'bandwidth': True}}] if bandwidth else plain
        assert new['plugins'] == wanted
        assert dict(new, plugins=None) == dict(old, plugins=None)
        longer, shorter = (after, before) if bandwidth else (before, after)
        removed = [line for line in longer.splitlines() if line not in shorter.splitlines()]
        assert all('bandwidth' in line or line.strip() in ('{', '}', '},') for line in removed), removed
        return True
    return check


def json_of(template):
    return json.loads(re.sub(r'__[A-Z0-9_]+__', '0', template))


def assert_exactly(upstream_objs, rendered_objs, expected):
    actual = dict((change.where, (change.before, change.after))
                  for change in diff_objects(upstream_objs, rendered_objs))
    assert sorted(actual) == sorted(expected), 'unexpected: %s; missing: %s' % (
        sorted(set(actual) - set(expected)), sorted(set(expected) - set(actual)))
    for where, (before, after) in expected.items():
        assert actual[where][0] == before, where
        if callable(after):
            assert after(actual[where][1]), where
        else:
            assert actual[where][1] == after, where


def assert_kubernetes_valid(objs):
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError('%s %s: %s' % (obj['kind'], obj['metadata']['name'], exc))


def strict(schema):
    """The CRD schema with unknown fields refused where the schema lists the fields (the API
    server prunes them silently, which would hide a misspelt field), and Go's '^(?i)...' patterns
    written as Python's re wants them ('(?i)^...')."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get('pattern'), str):
                node['pattern'] = re.sub(r'^\^\(\?([a-zA-Z]+)\)', r'(?\1)^', node['pattern'])
            if node.get('type') == 'object' and 'properties' in node and 'additionalProperties' not in node \
                    and not node.get('x-kubernetes-preserve-unknown-fields'):
                node['additionalProperties'] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    return schema


def crd_schemas(release):
    schemas = {}
    for doc in objects(read(os.path.join(UPSTREAM, 'calico', release, 'crds.yaml'))):
        if doc.get('kind') != 'CustomResourceDefinition' or doc['spec']['group'] != 'crd.projectcalico.org':
            continue
        version = [v for v in doc['spec']['versions'] if v.get('storage')][0]
        schemas[doc['spec']['names']['kind']] = (doc['spec']['group'] + '/' + version['name'],
                                                 strict(version['schema']['openAPIV3Schema']))
    return schemas


def assert_resources_valid(release, resources):
    schemas = crd_schemas(release)
    for resource in resources:
        assert resource['apiVersion'] == 'projectcalico.org/v3'
        api_version, schema = schemas[resource['kind']]
        # The CRDs serve crd.projectcalico.org/v1; the spec of v1 is the spec of v3.
        jsonschema.validate(dict(resource, apiVersion=api_version), schema, cls=jsonschema.Draft7Validator)


# --- scenarios -------------------------------------------------------------------------------

BGP = dict(
    calico_bgp_as_number=64512, calico_bgp_node_mesh=False, calico_bgp_service_cluster_ips=['10.96.0.0/12'],
    calico_bgp_peers=[
        {'name': 'tor', 'peer_ip': '10.10.0.1', 'as_number': 64513,
         'password': {'secret_name': 'bgp-secrets', 'secret_key': 'tor'}},
        {'name': 'rack-b', 'peer_ip': '[fd00:10::1]:179', 'as_number': '1.10', 'node_selector': "rack == 'b'"},
        {'name': 'to-reflectors', 'peer_selector': 'has(route-reflector)', 'node': 'node-01'},
    ],
    calico_ip_pools=[
        {'name': 'default-ipv4-ippool', 'cidr': '10.244.0.0/16', 'block_size': 26, 'nat_outgoing': False},
        {'name': 'default-ipv6-ippool', 'cidr': 'fd00:10:244::/56', 'block_size': 122, 'vxlan_mode': 'Always'},
        {'name': 'fixed', 'cidr': '10.245.0.0/24', 'node_selector': "rack == 'b'", 'disabled': True,
         'allowed_uses': ['Workload']},
    ],
    calico_felix_config={'prometheusMetricsEnabled': True, 'logSeverityScreen': 'Info'},
)
KDD = dict(BGP, calico_image_registry=REGISTRY, calico_pod_cidr='10.244.0.0/16',
           calico_ip_autodetection_method='interface=bond4,eth0', calico_encapsulation='IPIPCrossSubnet',
           calico_mtu=1440, calico_bandwidth_plugin=True)


@pytest.fixture(scope='module', params=releases(), ids=releases())
def kdd(request, tmp_path_factory):
    """The main scenario of a release: --check --diff first, then a run, then a second run."""
    release = request.param
    work = tmp_path_factory.mktemp('kdd-' + release)
    variables = dict(KDD, calico_manifest_checksum=sha256_from_sources(release, 'calico.yaml') or '')
    check = playbook(work, variables, release, check=True, diff=True)
    check.wrote = os.path.exists(check.render_dir)
    first = playbook(work, variables, release)
    rendered = {name: first.file(name) for name in ('calico.yaml', 'calico-resources.yaml', 'monitoring.yaml')} \
        if first.rc == 0 else {}
    second = playbook(work, variables, release)
    return release, check, first, rendered, second


def test_check_mode_writes_nothing(kdd):
    _release, check, _first, _rendered, _second = kdd
    assert check.rc == 0, check.output
    # Changed: the download cache (filled in check mode too) and the render, which wrote nothing;
    # then the folder and monitoring.yaml of the monitoring render, which wrote nothing either.
    assert check.changed == 5, check.output
    assert re.search(r'TASK \[k8snet.calico.calico : Render calico.yaml and calico-resources.yaml into [^\]]*\]'
                     r' \**\n(?:.*\n)*?changed: \[localhost\]', check.output), check.output
    assert '+            - name: IP_AUTODETECTION_METHOD' in check.output, 'the --diff shows the change'
    # A new manifest is diffed against upstream's: only the customisations show.
    assert '+kind: CustomResourceDefinition' not in check.output
    assert not check.wrote, '--check created %s' % check.render_dir


def test_semantic_difference_is_exactly_the_intended_changes(kdd):
    release, _check, first, rendered, _second = kdd
    assert first.rc == 0, first.output
    upstream = objects(read(os.path.join(UPSTREAM, 'calico', release, 'calico.yaml')))
    expected = expected_changes(
        upstream, registry=REGISTRY,
        env={'CALICO_IPV4POOL_CIDR': '10.244.0.0/16', 'IP_AUTODETECTION_METHOD': 'interface=bond4,eth0',
             'CALICO_IPV4POOL_IPIP': 'CrossSubnet', 'CALICO_IPV4POOL_VXLAN': 'Never'},
        config={'veth_mtu': '1440', 'calico_backend': 'bird'}, bandwidth=True)
    assert_exactly(upstream, objects(rendered['calico.yaml']), expected)


def test_built_in_objects_are_valid_kubernetes(kdd):
    _release, _check, first, rendered, _second = kdd
    assert first.rc == 0, first.output
    assert_kubernetes_valid(objects(rendered['calico.yaml']))


def test_calico_resources_pass_their_crd_schema(kdd):
    release, _check, first, rendered, _second = kdd
    assert first.rc == 0, first.output
    resources = objects(rendered['calico-resources.yaml'])
    assert ['%s %s' % (r['kind'], r['metadata']['name']) for r in resources] == [
        'BGPConfiguration default', 'BGPPeer tor', 'BGPPeer rack-b', 'BGPPeer to-reflectors',
        'IPPool default-ipv4-ippool', 'IPPool default-ipv6-ippool', 'IPPool fixed', 'FelixConfiguration default']
    assert resources[1]['spec']['password'] == {'secretKeyRef': {'name': 'bgp-secrets', 'key': 'tor'}}
    assert_resources_valid(release, resources)


def test_second_run_changes_nothing(kdd):
    _release, _check, first, rendered, second = kdd
    assert second.rc == 0, second.output
    assert second.changed == 0, second.output
    assert {name: second.file(name) for name in rendered} == rendered


@pytest.mark.parametrize('release', releases())
def test_typha_vxlan(release, tmp_path):
    variables = dict(calico_typha_enabled=True, calico_typha_replicas=3, calico_encapsulation='VXLAN',
                     calico_bandwidth_plugin=False, calico_pod_cidr='10.244.0.0/16',
                     calico_manifest_checksum=sha256_from_sources(release, 'calico-typha.yaml') or '')
    run = playbook(tmp_path, variables, release)
    assert run.rc == 0, run.output
    upstream = objects(read(os.path.join(UPSTREAM, 'calico', release, 'calico-typha.yaml')))
    rendered = objects(run.file('calico.yaml'))
    env = {'CALICO_IPV4POOL_CIDR': '10.244.0.0/16', 'CALICO_IPV4POOL_IPIP': 'Never', 'CALICO_IPV4POOL_VXLAN': 'Always'}
    if 'CALICO_IPV6POOL_VXLAN' in [e['name'] for e in node_container(upstream)['env']]:
        env['CALICO_IPV6POOL_VXLAN'] = 'Always'
    expected = expected_changes(upstream, env=env, config={'calico_backend': 'vxlan'}, bandwidth=False,
                                probes_without_bird=True, typha_replicas=3)
    assert_exactly(upstream, rendered, expected)
    assert_kubernetes_valid(rendered)
    pools = [r for r in objects(run.file('calico-resources.yaml')) if r['kind'] == 'IPPool']
    assert [(p['spec']['ipipMode'], p['spec']['vxlanMode']) for p in pools] == [('Never', 'Always')]
    assert_resources_valid(release, objects(run.file('calico-resources.yaml')))
    monitoring = objects(run.file('monitoring.yaml'))
    assert ('Service', 'calico-typha-metrics') in [(o['kind'], o['metadata']['name']) for o in monitoring]
    assert ('ConfigMap', 'calico-dashboard-typha') in [(o['kind'], o['metadata']['name']) for o in monitoring]


@pytest.mark.parametrize('release', releases())
def test_etcd_datastore(release, tmp_path):
    files = {}
    for option, title in (('ca_cert', 'CERTIFICATE'), ('cert', 'CERTIFICATE'), ('key', 'PRIVATE KEY')):
        path = tmp_path / ('etcd-%s.pem' % option)
        path.write_text('-----BEGIN %s-----\nMIIB%s\n-----END %s-----\n' % (title, option, title))
        files[option] = path
    variables = dict(calico_datastore='etcdv3', calico_encapsulation='None',
                     calico_image_registry=REGISTRY + ':5000/calico-mirror',
                     calico_etcd_endpoints=['https://10.0.0.5:2379', 'https://10.0.0.6:2379'],
                     calico_etcd_ca_cert=str(files['ca_cert']), calico_etcd_cert=str(files['cert']),
                     calico_etcd_key=str(files['key']),
                     calico_manifest_checksum=sha256_from_sources(release, 'calico-etcd.yaml') or '')
    run = playbook(tmp_path / 'work', variables, release, diff=True)
    assert run.rc == 0, run.output
    upstream = objects(read(os.path.join(UPSTREAM, 'calico', release, 'calico-etcd.yaml')))
    rendered = objects(run.file('calico.yaml'))
    secret = dict((key, base64.b64encode(files[option].read_bytes()).decode()) for option, key in
                  (('ca_cert', 'etcd-ca'), ('cert', 'etcd-cert'), ('key', 'etcd-key')))
    expected = expected_changes(
        upstream, registry=REGISTRY + ':5000/calico-mirror',
        env={'CALICO_IPV4POOL_IPIP': 'Never', 'CALICO_IPV4POOL_VXLAN': 'Never'},
        config={'calico_backend': 'bird', 'etcd_endpoints': 'https://10.0.0.5:2379,https://10.0.0.6:2379',
                'etcd_ca': '/calico-secrets/etcd-ca', 'etcd_cert': '/calico-secrets/etcd-cert',
                'etcd_key': '/calico-secrets/etcd-key'},
        secret=secret)
    assert_exactly(upstream, rendered, expected)
    assert_kubernetes_valid(rendered)
    assert os.stat(os.path.join(run.render_dir, 'calico.yaml')).st_mode & 0o777 == 0o600
    for value in secret.values():
        assert value not in run.output, 'the key material is redacted from --diff'


# --- bad inventories fail before anything is written, naming the variable ------------------


NEWEST = releases()[-1]


@pytest.mark.parametrize('variables, message', [
    (dict(calico_pod_cidr='10.244.0.0/33'), "calico_pod_cidr: '10.244.0.0/33' is not an IPv4/IPv6 network"),
    (dict(calico_ip_autodetection_method='eth0'),
     "calico_ip_autodetection_method: 'eth0' is not a Calico IP autodetection method"),
    (dict(calico_encapsulation='GRE'), 'calico_encapsulation must be one of: IPIP, IPIPCrossSubnet, VXLAN, '
                                       'VXLANCrossSubnet, None, got: GRE'),
    (dict(calico_version='v3.99.0'), 'calico_manifest_url: cannot fetch file://%s/calico/v3.99.0/calico.yaml '
                                     '(calico_version v3.99.0' % UPSTREAM),
    (dict(calico_manifest_checksum='sha256:' + '0' * 64),
     "calico_manifest_checksum: 'sha256:%s' does not match" % ('0' * 64)),
    (dict(calico_version='latest'), "calico_version: 'latest' is not a Calico release tag"),
    (dict(calico_bgp_peers=[{'name': 'tor', 'peer_ip': '10.0.0.1:179:1', 'as_number': 1}]),
     "calico_bgp_peers[0] (tor).peer_ip: '10.0.0.1:179:1' is not an IP address"),
], ids=['pod-cidr', 'autodetection', 'encapsulation', 'missing-release', 'checksum', 'version', 'peer'])
def test_bad_inventory_fails_before_writing(tmp_path, variables, message):
    run = playbook(tmp_path, variables, NEWEST)
    assert run.rc != 0
    assert message in ' '.join(run.output.split()), run.output
    assert not os.path.exists(run.render_dir)


def test_invalid_values_all_reported_at_once_and_nothing_fetched(tmp_path):
    run = playbook(tmp_path, dict(calico_pod_cidr='10.244.1.0/16', calico_mtu=20,
                                  calico_ip_pools=[{'name': 'p', 'cidr': 'fd00::/48', 'ipip_mode': 'Always'}]), NEWEST)
    assert run.rc != 0
    output = ' '.join(run.output.split())
    for message in ("calico_pod_cidr: '10.244.1.0/16' is not a network address (host bits are set; did you mean "
                    "'10.244.0.0/16'?)", 'calico_mtu: 20 is not an MTU',
                    "calico_ip_pools[0] (p).ipip_mode: 'Always' is not possible on an IPv6 pool"):
        assert message in output, run.output
    assert not os.path.exists(run.cache_dir), 'validation comes before the download'
    assert not os.path.exists(run.render_dir)


# --- the inventories of the repository ------------------------------------------------------


def test_local_inventory_renders_into_rendered_of_the_working_directory(tmp_path):
    """The README's first command: inventory/local, here pointed at the upstream folder. The
    relative default calico_render_dir lands in the directory ansible-playbook starts in."""
    run = playbook(tmp_path, {'calico_manifest_base_url': 'file://%s/calico/{{ calico_version }}' % UPSTREAM},
                   inventory=os.path.join(REPO, 'inventory', 'local'), cwd=str(tmp_path))
    assert run.rc == 0, run.output
    assert run.render_dir == os.path.join(str(tmp_path), 'rendered')
    resources = objects(run.file('calico-resources.yaml'))
    assert [r['kind'] for r in resources] == ['BGPConfiguration', 'BGPPeer', 'IPPool']
    assert_kubernetes_valid(objects(run.file('calico.yaml')))
    assert_monitoring_rendered(run.file('monitoring.yaml'))


def assert_monitoring_rendered(text):
    """monitoring.yaml of a Typha-less inventory: Felix and kube-controllers Services and
    ServiceMonitors, PrometheusRule calico, two dashboards; all labelled as the collection's."""
    monitoring = objects(text)
    assert [(o['kind'], o['metadata']['name']) for o in monitoring] == [
        ('Service', 'calico-felix-metrics'), ('Service', 'calico-kube-controllers-metrics'),
        ('ServiceMonitor', 'calico-felix-metrics'), ('ServiceMonitor', 'calico-kube-controllers-metrics'),
        ('PrometheusRule', 'calico'), ('ConfigMap', 'calico-dashboard-felix'),
        ('ConfigMap', 'calico-dashboard-kube-controllers')]
    for obj in monitoring:
        assert obj['metadata']['labels']['app.kubernetes.io/managed-by'] == 'k8snet.calico'
    assert [o['metadata']['labels']['release'] for o in monitoring if o['kind'] == 'ServiceMonitor'] == ['monitoring'] * 2
    assert_kubernetes_valid([o for o in monitoring if o['apiVersion'] == 'v1'])
    rule = monitoring[4]
    assert '{{ $labels.node }}' in rule['spec']['groups'][0]['rules'][0]['annotations']['summary'], 'not templated'
    for config_map in monitoring[5:]:
        [(name, dashboard)] = config_map['data'].items()
        assert json.loads(dashboard)['uid'] == 'k8snet-' + name[:-len('.json')]


def test_sample_inventory_renders_the_seed(tmp_path):
    run = playbook(tmp_path, {'calico_manifest_base_url': 'file://%s/calico/{{ calico_version }}' % UPSTREAM},
                   inventory=os.path.join(REPO, 'inventory', 'sample'))
    assert run.rc == 0, run.output
    manifest = objects(run.file('calico.yaml'))
    container = node_container(manifest)
    env = dict((e['name'], e.get('value')) for e in container['env'])
    assert env['IP_AUTODETECTION_METHOD'] == 'interface=bond4,eth0'
    assert env['CALICO_IPV4POOL_CIDR'] == '10.244.0.0/16'
    assert container['image'].startswith(REGISTRY + '/calico/node:')
    resources = dict(((r['kind'], r['metadata']['name']), r['spec']) for r in objects(run.file('calico-resources.yaml')))
    assert resources[('BGPConfiguration', 'default')] == {
        'logSeverityScreen': 'Info', 'nodeToNodeMeshEnabled': False, 'asNumber': 64512,
        'serviceClusterIPs': [{'cidr': '10.96.0.0/12'}]}
    assert resources[('BGPPeer', 'tor-switch')] == {'peerIP': '10.10.0.1', 'asNumber': 64513}
    assert resources[('IPPool', 'default-ipv4-ippool')]['natOutgoing'] is False
