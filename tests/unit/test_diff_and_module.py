# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The structural diff, and the helpers of the calico_render module (resources file, redaction)."""

import yaml


from ansible_collections.k8snet.calico.plugins.module_utils.inventory_resources import build_resources
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.diff import MISSING, diff_objects, diff_values
from ansible_collections.k8snet.calico.plugins.modules import calico_render


def test_named_lists_match_by_name():
    before = {'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '2'}]}
    after = {'env': [{'name': 'B', 'value': '3'}, {'name': 'A', 'value': '1'}, {'name': 'C', 'value': '4'}]}
    found = [(change.path, change.before, change.after) for change in diff_values(before, after)]
    assert found == [('env[B].value', '2', '3'), ('env[C]', MISSING, {'name': 'C', 'value': '4'}),
                     ('env(order)', ['A', 'B'], ['B', 'A', 'C'])]


def test_plain_lists_and_types():
    assert [(c.path, c.before, c.after) for c in diff_values({'c': ['a', 'b']}, {'c': ['a']})] == \
        [('c', ['a', 'b'], ['a'])]
    assert [c.path for c in diff_values({'n': 1}, {'n': 1.0})] == []
    assert [c.path for c in diff_values({'n': 1}, {'n': '1'})] == ['n']


def test_objects_added_and_removed():
    one = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'a', 'namespace': 'x'}}
    two = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'b'}}
    found = diff_objects([one], [two])
    assert [(change.where, change.before is MISSING, change.after is MISSING) for change in found] == \
        [('ConfigMap x/a', False, True), ('ConfigMap b', True, False)]


def test_resources_text_is_deterministic_yaml():
    resources = build_resources(dict(pod_cidr='10.244.0.0/16', bgp_as_number='1.10'))
    text = calico_render.resources_text(resources)
    assert text == calico_render.resources_text(build_resources(dict(pod_cidr='10.244.0.0/16',
                                                                     bgp_as_number='1.10')))
    assert [doc for doc in yaml.safe_load_all(text) if doc] == resources
    assert text.startswith('# Calico resources rendered by k8snet.calico')


def test_secret_data_redacted_for_diff():
    text = ('---\nkind: ConfigMap\ndata:\n  etcd_endpoints: "https://aaaaaaaaaaaaaaaaaaaa:2379"\n'
            '---\napiVersion: v1\nkind: Secret\ndata:\n  etcd-key: "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"\n'
            '  # etcd-ca: null\n')
    redacted = calico_render.redact_secrets(text)
    assert 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t' not in redacted
    assert '  etcd-key: <redacted sha256:' in redacted
    assert 'etcd_endpoints: "https://aaaaaaaaaaaaaaaaaaaa:2379"' in redacted
    assert calico_render.redact_secrets('kind: ConfigMap\n') == 'kind: ConfigMap\n'
