# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The conflist template of calico-config: read with its unquoted placeholders, plugins added and
removed byte-stably."""

import json
import re

import pytest
import yaml

from calico_testdata import read_upstream, releases

from ansible_collections.k8snet.calico.plugins.module_utils.manifest import cni

TEMPLATE = '''{
  "name": "k8s-pod-network",
  "cniVersion": "1.0.0",
  "plugins": [
    {
      "type": "calico",
      "mtu": __CNI_MTU__,
      "nodename": "__KUBERNETES_NODE_NAME__",
      "ipam": {"type": "calico-ipam"}
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    }
  ]
}'''

WITH_BANDWIDTH = TEMPLATE.replace('''      "capabilities": {"portMappings": true}
    }''', '''      "capabilities": {"portMappings": true}
    },
    {
      "type": "bandwidth",
      "capabilities": {"bandwidth": true}
    }''')


def conflist(release):
    for doc in yaml.safe_load_all(read_upstream(release, 'calico.yaml')):
        if doc and doc.get('kind') == 'ConfigMap' and doc['metadata']['name'] == 'calico-config':
            return doc['data']['cni_network_config']
    raise AssertionError('no calico-config')


def test_template_is_not_json_but_parses():
    with pytest.raises(ValueError):
        json.loads(TEMPLATE)
    root = cni.parse(TEMPLATE)
    assert root.kind == 'object'
    assert cni.plugin_types(TEMPLATE) == ['calico', 'portmap']
    assert cni.placeholders(TEMPLATE) == ['__CNI_MTU__', '__KUBERNETES_NODE_NAME__']
    assert cni.as_json(TEMPLATE)['plugins'][0]['mtu'] == 0
    assert cni.as_json(TEMPLATE, {'__CNI_MTU__': 1440})['plugins'][0]['mtu'] == 1440


def test_add_is_byte_stable():
    assert cni.add_plugin(TEMPLATE, cni.BANDWIDTH_PLUGIN) == WITH_BANDWIDTH
    assert cni.add_plugin(WITH_BANDWIDTH, cni.BANDWIDTH_PLUGIN) == WITH_BANDWIDTH


def test_remove_is_byte_stable():
    assert cni.remove_plugin(WITH_BANDWIDTH, 'bandwidth') == TEMPLATE
    assert cni.remove_plugin(TEMPLATE, 'bandwidth') == TEMPLATE


def test_remove_first_middle_and_only():
    text = '{"plugins": [{"type": "bandwidth"}, {"type": "a"}, {"type": "bandwidth"}, {"type": "b"}]}'
    assert cni.remove_plugin(text, 'bandwidth') == '{"plugins": [{"type": "a"}, {"type": "b"}]}'
    assert cni.remove_plugin('{"plugins": [ {"type": "bandwidth"} ]}', 'bandwidth') == '{"plugins": [  ]}'


def test_add_to_empty_list():
    result = cni.add_plugin('{\n  "plugins": []\n}', {'type': 'bandwidth'})
    assert json.loads(result) == {'plugins': [{'type': 'bandwidth'}]}


@pytest.mark.parametrize('text, message', [
    ('{"plugins": [}', 'unexpected character'),
    ('{"plugins": [{"type": "calico"}]', "expected ',' or '}'"),
    ('{"type": "calico"}', "has no 'plugins' list"),
    ('{"plugins": [__X__ __Y__]}', "expected ',' or ']'"),
    ('{"plugins": []} trailing', 'unexpected text after the configuration'),
])
def test_errors_say_where(text, message):
    with pytest.raises(cni.TemplateError) as info:
        cni.plugin_types(text)
    assert message in str(info.value)
    if 'plugins' not in message:
        assert 'at line 1 column' in str(info.value)


@pytest.mark.parametrize('release', releases())
def test_upstream_round_trip(release):
    """Adding to a release without the plugin and removing from one with it change only the
    plugin's lines; the result has the same JSON apart from that plugin."""
    text = conflist(release)
    added = cni.add_plugin(text, cni.BANDWIDTH_PLUGIN)
    removed = cni.remove_plugin(added, 'bandwidth')
    assert cni.plugin_types(added)[-1] == 'bandwidth'
    assert 'bandwidth' not in cni.plugin_types(removed)
    plain = cni.as_json(removed)
    assert cni.as_json(added)['plugins'] == plain['plugins'] + [cni.BANDWIDTH_PLUGIN]
    if 'bandwidth' in cni.plugin_types(text):
        assert added == text
    else:
        assert removed == text
    # What install-cni reads after filling in the placeholders is JSON.
    for variant in (added, removed):
        json.loads(re.sub(r'__[A-Z0-9_]+__', '0', variant))


def test_releases_with_and_without_the_plugin_differ_only_by_it():
    """Upstream chained bandwidth up to v3.29: adding it to a later release gives, byte for byte,
    the plugin list of an earlier one (when both are in the upstream folder)."""
    found = releases()
    with_plugin = [r for r in found if 'bandwidth' in cni.plugin_types(conflist(r))]
    without = [r for r in found if 'bandwidth' not in cni.plugin_types(conflist(r))]
    if not with_plugin or not without:
        pytest.skip('needs releases with and without the bandwidth plugin')
    old, new = conflist(with_plugin[-1]), conflist(without[0])
    version = re.compile(r'"cniVersion": "[^"]*"')
    assert version.sub('', cni.add_plugin(new, cni.BANDWIDTH_PLUGIN)) == version.sub('', old)
