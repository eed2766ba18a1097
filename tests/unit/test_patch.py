# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edits in place of a YAML document: only the changed lines move, comments stay."""

import copy

import yaml


from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.patch import patch_text

DOC = '''---
# Source: example
kind: DaemonSet
metadata:
  name: calico-node   # the node agent
spec:
  containers:
    # The agent.
    - name: calico-node
      image: quay.io/calico/node:v3.31.7
      command: ["a", "b"]
      env:
        # Auto-detect the BGP IP address.
        - name: IP
          value: "autodetect"
        - name: CALICO_IPV4POOL_IPIP
          value: "Always"
        - name: FROM
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
      livenessProbe:
        exec:
          command:
            - /bin/calico-node
            - -felix-live
            - -bird-live
        periodSeconds: 10
data:
  # Populate me.
  # etcd-key: null
config:
  cni: |-
    {
      "a": 1
    }
  mode: 'x'
'''


def patch(old_text, change):
    old = yaml.safe_load(old_text)
    new = copy.deepcopy(old)
    change(new)
    result = patch_text(old_text, old, new, document.load_yaml, document._dump_quoted, document.dump_yaml)
    if result is not None:
        assert yaml.safe_load(result) == new
    return result


def changed_lines(before, after):
    old, new = before.splitlines(), after.splitlines()
    return [line for line in new if line not in old], [line for line in old if line not in new]


def test_scalar_keeps_its_quoting_and_comment():
    def change(data):
        data['metadata']['name'] = 'other'
        env = data['spec']['containers'][0]['env']
        env[1]['value'] = 'Never'
        data['config']['mode'] = "it's"
    result = patch(DOC, change)
    added, removed = changed_lines(DOC, result)
    assert added == ['  name: other   # the node agent', '          value: "Never"', "  mode: 'it''s'"]
    assert len(removed) == 3


def test_plain_image_stays_plain():
    def change(data):
        data['spec']['containers'][0]['image'] = 'registry.example.internal/calico/node:v3.31.7'
    added, _removed = changed_lines(DOC, patch(DOC, change))
    assert added == ['      image: registry.example.internal/calico/node:v3.31.7']


def test_env_inserted_after_its_neighbour_in_upstream_style():
    def change(data):
        data['spec']['containers'][0]['env'].insert(1, {'name': 'IP_AUTODETECTION_METHOD',
                                                        'value': 'interface=bond4,eth0'})
    result = patch(DOC, change)
    assert '''          value: "autodetect"
        - name: IP_AUTODETECTION_METHOD
          value: "interface=bond4,eth0"
        - name: CALICO_IPV4POOL_IPIP''' in result
    assert '# Auto-detect the BGP IP address.' in result


def test_value_from_replaced_by_value():
    def change(data):
        data['spec']['containers'][0]['env'][2] = {'name': 'FROM', 'value': 'x'}
    result = patch(DOC, change)
    assert '''        - name: FROM
          value: "x"
      livenessProbe:''' in result


def test_list_item_deleted_with_its_line_only():
    def change(data):
        data['spec']['containers'][0]['livenessProbe']['exec']['command'].remove('-bird-live')
    added, removed = changed_lines(DOC, patch(DOC, change))
    assert (added, removed) == ([], ['            - -bird-live'])


def test_null_mapping_filled_and_block_scalar_rewritten():
    def change(data):
        data['data'] = {'etcd-key': 'a2V5'}
        data['config']['cni'] = '{\n  "a": 1,\n  "b": 2\n}'
    result = patch(DOC, change)
    assert 'data:\n  etcd-key: "a2V5"\n' in result
    assert '  cni: |-\n    {\n      "a": 1,\n      "b": 2\n    }\n  mode:' in result


def test_unchanged_document_is_identical():
    assert patch(DOC, lambda data: None) == DOC


def test_flow_list_change_rewrites_the_entry():
    def change(data):
        data['spec']['containers'][0]['command'] = ['a']
    result = patch(DOC, change)
    assert '      command:\n        - "a"\n' in result


def test_list_items_replaced_by_others():
    result = patch('- a\n- b\n', lambda data: data.__setitem__(slice(None), [{'x': 1}] * 3))
    assert result == '- x: 1\n- x: 1\n- x: 1\n'


def test_not_possible_gives_none():
    # The root itself replaced by another type: the caller writes the document from its data.
    assert patch_text('a: 1\n', {'a': 1}, ['x'], document.load_yaml, document._dump_quoted) is None
