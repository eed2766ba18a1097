# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plain logic of playbooks/upgrade.yml: version rules, the Kubernetes table, the comparison
of two releases' manifests (upstream's own files), the preflight checks and the backup files."""

import copy

import pytest
import yaml

from calico_testdata import read_upstream, releases

from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import NotFound
from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import backup, checks, live, manifests, plan, versions


def upstream(release):
    if release not in releases():
        pytest.skip('upstream Calico %s not in the test data' % release)
    return document.Manifest(read_upstream(release, 'calico.yaml')).data()


# --- versions --------------------------------------------------------------------------------

@pytest.mark.parametrize('text,parsed', [
    ('v3.31.7', (3, 31, 7, '')), ('3.31', (3, 31, 0, '')), ('v1.34.4+k3s1', (1, 34, 4, '')),
    ('v3.32.0-1.dev', (3, 32, 0, '1.dev')),
])
def test_parse(text, parsed):
    assert versions.parse(text) == parsed


@pytest.mark.parametrize('text', ['latest', 'v3', '', None, 'v3.31.x', 'sha256:abc'])
def test_parse_rejects(text):
    with pytest.raises(versions.VersionError):
        versions.parse(text)


def test_compare():
    assert versions.compare('v3.30.7', 'v3.31.7') == -1
    assert versions.compare('v3.31.7', '3.31.7') == 0
    assert versions.compare('v3.31.10', 'v3.31.9') == 1
    assert versions.compare('v3.32.0-1.dev', 'v3.32.0') == -1


@pytest.mark.parametrize('current,target,codes', [
    ('v3.30.7', 'v3.31.7', []),
    ('v3.31.0', 'v3.31.7', []),
    ('v3.31.7', 'v3.31.7', []),
    ('v3.15.0', 'v3.31.7', []),
    ('v3.14.2', 'v3.31.7', ['upgrade_path']),
    ('v3.31.7', 'v3.30.7', ['downgrade']),
    ('v3.31.7', 'v3.31.6', ['downgrade']),
    ('v3.31.7', 'v4.0.0', ['upgrade_path']),
])
def test_check_path(current, target, codes):
    assert [code for code, _message in versions.check_path(current, target)] == codes


def test_check_path_messages_name_both_releases_and_the_source():
    [(_code, message)] = versions.check_path('v3.14.2', 'v3.31.7')
    assert 'from Calico v3.15.0 or later only' in message and 'v3.14.2' in message
    assert 'https://docs.tigera.io/calico/3.31/operations/upgrading/kubernetes-upgrade' in message
    [(_code, message)] = versions.check_path('v3.31.7', 'v3.30.7')
    assert 'runs Calico v3.31.7, newer than calico_version v3.30.7' in message


def test_check_kubernetes():
    assert versions.check_kubernetes('v3.31.7', 'v1.34.4') == (None, None, ['1.32', '1.33', '1.34', '1.35'])
    refusal, warning, tested = versions.check_kubernetes('v3.29.7', 'v1.34.4')
    assert refusal[0] == 'kubernetes_version' and warning is None
    assert 'Calico 3.29 is tested against Kubernetes 1.29, 1.30, 1.31, 1.32 only' in refusal[1]
    assert 'https://docs.tigera.io/calico/3.29/getting-started/kubernetes/requirements' in refusal[1]
    # A release the table does not know yet: a warning, never a refusal.
    refusal, warning, tested = versions.check_kubernetes('v3.40.0', 'v1.34.4')
    assert refusal is None and tested == [] and 'no table' in warning and '3.40' in warning
    refusal, warning, _tested = versions.check_kubernetes('v3.31.7', None)
    assert refusal is None and 'unknown' in warning


def test_running_version():
    images = ['registry.example.internal/calico/node:v3.30.7']
    assert versions.running_version(images, 'v3.30.7') == ('v3.30.7', 'calico-node image tag', '')
    version, _source, note = versions.running_version(images, 'v3.29.7')
    assert version == 'v3.30.7' and 'ClusterInformation default says v3.29.7' in note
    # A digest or a site's own tag: ClusterInformation tells.
    assert versions.running_version(['quay.io/calico/node@sha256:' + 'a' * 64], 'v3.30.7')[:2] == \
        ('v3.30.7', 'ClusterInformation default spec.calicoVersion')
    assert versions.running_version(['registry:5000/calico/node:prod'], None) == (None, '', '')
    assert versions.image_tag('registry:5000/calico/node') == ''
    assert versions.image_tag('registry:5000/calico/node:v3.31.7@sha256:ab') == 'v3.31.7'


# --- the two releases compared ----------------------------------------------------------------

def test_default_changes_v3_30_to_v3_31():
    old, new = upstream('v3.30.7'), upstream('v3.31.7')
    report = manifests.default_changes(old, new, old, new)
    assert report == [{'setting': 'CNI conflist: cniVersion', 'upstream_before': '0.3.1', 'upstream_after': '1.0.0',
                       'running': '0.3.1', 'after_upgrade': '1.0.0', 'status': 'changes'}]


def test_default_changes_v3_29_to_v3_30_pinned_and_unchanged():
    old, new = upstream('v3.29.7'), upstream('v3.30.7')
    report = dict((e['setting'], e) for e in manifests.default_changes(old, new, old, new))
    assert report['CNI conflist: plugins[type=bandwidth]']['upstream_after'] is None
    controllers = 'env Deployment calico-kube-controllers/calico-kube-controllers: ENABLED_CONTROLLERS'
    assert (report[controllers]['upstream_before'], report[controllers]['upstream_after']) == \
        ('node', 'node,loadbalancer')
    assert set(e['status'] for e in report.values()) == {'changes'}

    # An inventory that keeps the bandwidth plugin (calico_bandwidth_plugin: true) pins it: the
    # render of the target still has it, and nothing flips.
    rendered = copy.deepcopy(new)
    config = next(o for o in rendered if o['kind'] == 'ConfigMap')
    old_config = next(o for o in old if o['kind'] == 'ConfigMap')
    config['data']['cni_network_config'] = old_config['data']['cni_network_config']
    report = dict((e['setting'], e) for e in manifests.default_changes(old, new, old, rendered))
    assert report['CNI conflist: plugins[type=bandwidth]']['status'] == 'pinned'
    assert report[controllers]['status'] == 'changes'
    # Once the cluster runs the new value, the setting no longer changes.
    report = dict((e['setting'], e) for e in manifests.default_changes(old, new, rendered, rendered))
    assert report[controllers]['status'] == 'unchanged'


def test_removed_upstream_only_what_upstream_removed():
    old, new = upstream('v3.30.7'), upstream('v3.31.7')
    assert manifests.removed_upstream(old, new) == []
    gone = {'apiVersion': 'v1', 'kind': 'ServiceAccount', 'metadata': {'name': 'calico-old', 'namespace': 'kube-system'}}
    assert manifests.removed_upstream(old + [gone], new) == [('v1', 'ServiceAccount', 'kube-system', 'calico-old')]
    # Kept by the render of the target (e.g. the etcd Secret): not removed.
    assert manifests.removed_upstream(old + [gone], new, [gone]) == []
    # The same object under another version of its API group is the same object.
    pdb = {'apiVersion': 'policy/v1beta1', 'kind': 'PodDisruptionBudget',
           'metadata': {'name': 'calico-kube-controllers', 'namespace': 'kube-system'}}
    assert manifests.removed_upstream([pdb], new) == []


def test_compare_releases_lists_backup_reads_and_additions():
    old, new = upstream('v3.30.7'), upstream('v3.31.7')
    live = [copy.deepcopy(o) for o in old if o['kind'] != 'ClusterRoleBinding']
    live.append({'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole', 'metadata': {'name': 'admin'}})
    result = plan.compare_releases(old, new, new, live)
    assert ['rbac.authorization.k8s.io/v1', 'ClusterRole', '', 'admin'] not in result['live_objects']
    assert ['apps/v1', 'DaemonSet', 'kube-system', 'calico-node'] in result['backup_objects']
    bindings = [o['metadata']['name'] for o in new if o['kind'] == 'ClusterRoleBinding']
    assert sorted(item[3] for item in result['added_by_upgrade']) == sorted(bindings)
    assert result['removed_present'] == [] and len(result['default_changes']) == 1


def operator_files(release):
    if release not in releases():
        pytest.skip('upstream Calico %s not in the test data' % release)
    return [obj for name in ('tigera-operator.yaml', 'operator-crds.yaml')
            for obj in document.Manifest(read_upstream(release, name)).data()]


def test_compare_operator_releases_backs_up_the_installation_and_keeps_removed_crds():
    """The operator method: v3.29 embeds the CRDs in tigera-operator.yaml, v3.31 has them only in
    operator-crds.yaml; neither is 'removed'. The Installation of the render is backed up. A CRD
    upstream dropped is kept, never deleted. The operator's env is not a setting report."""
    old, new = operator_files('v3.29.7'), operator_files('v3.31.7')
    installation = {'apiVersion': 'operator.tigera.io/v1', 'kind': 'Installation', 'metadata': {'name': 'default'},
                    'spec': {'registry': 'registry.example.internal/'}}
    rendered = new + [installation]
    dropped = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
               'metadata': {'name': 'gone.operator.tigera.io'}}
    live = [copy.deepcopy(o) for o in old] + [installation, dropped]
    result = plan.compare_releases(old + [dropped], new, rendered, live, compare_settings=False)
    assert ['operator.tigera.io/v1', 'Installation', '', 'default'] in result['backup_objects']
    assert ['apps/v1', 'Deployment', 'tigera-operator', 'tigera-operator'] in result['backup_objects']
    assert result['removed_present'] == []
    assert result['removed_kept'] == [['apiextensions.k8s.io/v1', 'CustomResourceDefinition', '',
                                       'gone.operator.tigera.io']]
    assert result['setting_report'] == result['default_changes'] == []
    # Compared as manifests, the operator's own env would flip: that is why the role turns it off.
    assert plan.compare_releases(old, new, rendered, live)['default_changes']


def test_preflight_names_the_namespace_of_calico_node():
    result = plan.preflight('v3.31.7', [], kubernetes_version='v1.34.4', current_version='v3.30.7',
                            namespace='calico-system')
    assert result['refusals'] == [{'check': 'not_ready', 'message': 'DaemonSet calico-system/calico-node not found'}]


def test_clean_live_and_clean_resource():
    live = {'apiVersion': 'apps/v1', 'kind': 'DaemonSet',
            'metadata': {'name': 'calico-node', 'namespace': 'kube-system', 'uid': 'u', 'resourceVersion': '5',
                         'generation': 3, 'creationTimestamp': 't', 'managedFields': [{}],
                         'annotations': {'deprecated.daemonset.template.generation': '3'}, 'labels': {'a': 'b'}},
            'spec': {'x': 1}, 'status': {'numberReady': 3}}
    assert manifests.clean_live(live) == {'apiVersion': 'apps/v1', 'kind': 'DaemonSet',
                                          'metadata': {'name': 'calico-node', 'namespace': 'kube-system',
                                                       'labels': {'a': 'b'}}, 'spec': {'x': 1}}
    assert live['status'], 'the input is not changed'
    node = {'apiVersion': 'projectcalico.org/v3', 'kind': 'Node',
            'metadata': {'name': 'n1', 'labels': {'rack': 'r1'}, 'annotations': {'x': 'y'}, 'uid': 'u'},
            'spec': {'bgp': {'ipv4Address': '10.0.0.1/24'}, 'addresses': [{'address': '10.0.0.1'}]},
            'status': {'podCIDRs': []}}
    assert manifests.clean_resource(node) == {'apiVersion': 'projectcalico.org/v3', 'kind': 'Node',
                                              'metadata': {'name': 'n1', 'labels': {'rack': 'r1'}},
                                              'spec': {'bgp': {'ipv4Address': '10.0.0.1/24'}}}
    pool = {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool',
            'metadata': {'name': 'p', 'resourceVersion': '9', 'uid': 'u', 'creationTimestamp': 't'},
            'spec': {'cidr': '10.0.0.0/16'}}
    assert manifests.clean_resource(pool) == {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool',
                                              'metadata': {'name': 'p'}, 'spec': {'cidr': '10.0.0.0/16'}}


class FakeClient:
    """Answers GETs from a dict of objects by (group, version, plural, namespace, name)."""

    def __init__(self, objects):
        self.objects = objects
        self.asked = []

    def get(self, group, version, plural, name, namespace=None):
        self.asked.append((group, version, plural, namespace, name))
        try:
            return self.objects[(group, version, plural, namespace, name)]
        except KeyError:
            raise NotFound('not found')


def test_read_objects_one_get_each_and_missing_left_out():
    ds = daemonset()
    client = FakeClient({('apps', 'v1', 'daemonsets', 'kube-system', 'calico-node'): ds})
    items = [['apps/v1', 'DaemonSet', 'kube-system', 'calico-node'], ['v1', 'ServiceAccount', 'kube-system', 'x'],
             ['rbac.authorization.k8s.io/v1', 'ClusterRole', '', 'calico-node'],
             ['policy/v1', 'PodDisruptionBudget', 'kube-system', 'calico-kube-controllers']]
    assert live.read_objects(client, items) == [ds]
    assert client.asked == [('apps', 'v1', 'daemonsets', 'kube-system', 'calico-node'),
                            ('', 'v1', 'serviceaccounts', 'kube-system', 'x'),
                            ('rbac.authorization.k8s.io', 'v1', 'clusterroles', None, 'calico-node'),
                            ('policy', 'v1', 'poddisruptionbudgets', 'kube-system', 'calico-kube-controllers')]


@pytest.mark.parametrize('kind,plural', [('CustomResourceDefinition', 'customresourcedefinitions'),
                                         ('NetworkPolicy', 'networkpolicies'), ('Ingress', 'ingresses'),
                                         ('Gateway', 'gateways'), ('Endpoints', 'endpoints')])
def test_plural(kind, plural):
    assert live.plural(kind) == plural


# --- preflight --------------------------------------------------------------------------------

def daemonset(image='quay.io/calico/node:v3.30.7', ready=3, wanted=3, observed=1):
    return {'apiVersion': 'apps/v1', 'kind': 'DaemonSet',
            'metadata': {'name': 'calico-node', 'namespace': 'kube-system', 'generation': 1},
            'spec': {'template': {'spec': {'containers': [{'name': 'calico-node', 'image': image}]}}},
            'status': {'desiredNumberScheduled': wanted, 'updatedNumberScheduled': wanted, 'numberReady': ready,
                       'numberAvailable': ready, 'observedGeneration': observed}}


def pool(name, cidr, block_size=26, disabled=False):
    return {'kind': 'IPPool', 'metadata': {'name': name},
            'spec': {'cidr': cidr, 'blockSize': block_size, 'disabled': disabled}}


def block(cidr, used, size):
    return {'spec': {'cidr': cidr, 'allocations': [0] * used + [None] * (size - used)}}


def test_workload_ready():
    assert checks.workload_ready(daemonset())[0]
    ready, text = checks.workload_ready(daemonset(ready=2))
    assert not ready and 'ready 2' in text and 'of 3 wanted' in text
    ready, text = checks.workload_ready(daemonset(observed=0))
    assert not ready and 'has not seen its latest spec' in text


def test_ipam_capacity():
    pools, free = checks.ipam_capacity([pool('a', '10.0.0.0/24', 26), pool('off', '10.1.0.0/24', 26, True)],
                                       [block('10.0.0.0/26', 64, 64), block('10.0.0.64/26', 60, 64)])
    assert free == 4 + 2 * 64
    assert pools[0]['blocks_total'] == 4 and pools[0]['blocks_allocated'] == 2
    assert pools[1]['disabled'] and pools[1]['addresses_free'] == 256
    _pools, free = checks.ipam_capacity([pool('a', '10.0.0.0/25', 26)],
                                        [block('10.0.0.0/26', 64, 64), block('10.0.0.64/26', 64, 64)])
    assert free == 0


def test_preflight_refusals_and_overrides():
    args = dict(cluster_information={'spec': {'calicoVersion': 'v3.31.7'}}, kubernetes_version='v1.34.4',
                ip_pools=[pool('a', '10.0.0.0/16')], ipam_blocks=[])
    ok = plan.preflight('v3.31.7', [daemonset()], **args)
    assert ok['refusals'] == [] and ok['running_version'] == 'v3.30.7' and ok['ipam']['addresses_free'] == 65536
    refused = plan.preflight('v3.29.7', [daemonset(ready=2)], **args)
    assert [r['check'] for r in refused['refusals']] == ['downgrade', 'kubernetes_version', 'not_ready']
    allowed = plan.preflight('v3.29.7', [daemonset(ready=2)], allow=['downgrade', 'not_ready'], **args)
    assert [r['check'] for r in allowed['refusals']] == ['kubernetes_version']
    assert [r['check'] for r in allowed['overridden']] == ['downgrade', 'not_ready']
    full = plan.preflight('v3.31.7', [daemonset()], **{**args, 'ip_pools': [pool('a', '10.0.0.0/25')], 'ipam_blocks': [
        block('10.0.0.0/26', 64, 64), block('10.0.0.64/26', 64, 64)]})
    assert [r['check'] for r in full['refusals']] == ['ipam']
    etcd = plan.preflight('v3.31.7', [daemonset()], **{**args, 'ipam_blocks': None})
    assert etcd['ipam'] is None and any('IPAM capacity not checked' in n for n in etcd['notes'])


def test_preflight_without_calico():
    result = plan.preflight('v3.31.7', [], kubernetes_version='v1.34.4')
    assert [r['check'] for r in result['refusals']] == ['not_installed']
    assert 'install it with install.yml' in result['refusals'][0]['message']
    named = plan.preflight('v3.31.7', [], kubernetes_version='v1.34.4', current_version='v3.30.7')
    assert named['running_version'] == 'v3.30.7' and [r['check'] for r in named['refusals']] == ['not_ready']


# --- backup files -------------------------------------------------------------------------------

def test_backup_files():
    objects = [{'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'calico-config', 'namespace': 'kube-system',
                                                                      'resourceVersion': '1'}, 'data': {'a': 'b'}},
               {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': 'ClusterRole', 'metadata': {'name': 'admin'}},
               daemonset()]
    names = [['apps/v1', 'DaemonSet', 'kube-system', 'calico-node'], ['v1', 'ConfigMap', 'kube-system', 'calico-config']]
    docs = [d for d in yaml.safe_load_all(backup.manifest_text(objects, names)) if d]
    assert [d['kind'] for d in docs] == ['DaemonSet', 'ConfigMap']
    assert 'status' not in docs[0] and 'resourceVersion' not in docs[1]['metadata']
    resources = {'BGPPeer': [{'apiVersion': 'projectcalico.org/v3', 'kind': 'BGPPeer', 'metadata': {'name': 'b'}}],
                 'IPPool': [{'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': 'z'}},
                            {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': 'a'}}]}
    docs = [d for d in yaml.safe_load_all(backup.resources_text(resources)) if d]
    assert [(d['kind'], d['metadata']['name']) for d in docs] == [('BGPPeer', 'b'), ('IPPool', 'a'), ('IPPool', 'z')]
    assert backup.folder_name('20261125T182500Z', 'v3.30.7', 'v3.31.7/x') == \
        '20261125T182500Z-v3.30.7-to-v3.31.7_x'


def test_changed_objects_of_registered_k8s_results():
    def obj(kind, name, namespace=None):
        metadata = {'name': name, **({'namespace': namespace} if namespace else {})}
        return {'kind': kind, 'metadata': metadata}
    several = {'changed': True, 'result': {'results': [
        {'changed': True, 'result': obj('Deployment', 'tigera-operator', 'tigera-operator')},
        {'changed': False, 'result': obj('Namespace', 'tigera-operator')},
        {'changed': True, 'result': obj('ClusterRole', 'tigera-operator')}]}}
    one = {'changed': True, 'result': obj('Installation', 'default')}
    unchanged = {'changed': False, 'result': obj('APIServer', 'default')}
    loop = {'changed': True, 'results': [{'changed': True, 'result': obj('Secret', 'x', 'kube-system')},
                                         {'skipped': True}]}
    skipped = {'skipped': True, 'changed': False}
    assert plan.changed_objects([several, one, unchanged, loop, skipped, None]) == [
        'Deployment tigera-operator/tigera-operator', 'ClusterRole tigera-operator', 'Installation default',
        'Secret kube-system/x']
