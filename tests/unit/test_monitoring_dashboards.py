# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every dashboard of the role is valid JSON whose PromQL (panel targets and template variables)
uses only metric names listed in docs/monitoring-metrics.md; so do the alerting rules; and every
alert has a summary, a description and a runbook_url whose anchor exists in docs/monitoring-runbook.md."""

import json
import re

import pytest
import yaml

from conftest import REPO_ROOT

ROLE = REPO_ROOT / 'roles' / 'calico_monitoring'
DASHBOARDS = sorted((ROLE / 'files' / 'dashboards').glob('*.json'))
RULES = ROLE / 'files' / 'calico-rules.yml'

# PromQL words that are not metric names.
KEYWORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless',
            'offset', 'inf', 'nan'}
SUFFIXES = ('_sum', '_count', '_bucket')


def documented():
    """{metric: type} from the table of docs/monitoring-metrics.md."""
    found = {}
    for line in (REPO_ROOT / 'docs' / 'monitoring-metrics.md').read_text().splitlines():
        match = re.match(r'^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \| (\w+) \|', line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def metric_names(expr):
    """The metric names an expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    text = re.sub(r'\{[^}]*\}', '', text)                      # label matchers
    text = re.sub(r'\[[^\]]*\]', '', text)                     # ranges
    text = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', '', text)
    text = re.sub(r'\$\w+', '', text)                          # Grafana variables
    names = set()
    for match in re.finditer(r'(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?', text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def base_name(name, known):
    if name in known:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and known.get(name[:-len(suffix)]) in ('summary', 'histogram'):
            return name[:-len(suffix)]
    return None


def expressions(dashboard):
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get('targets', []):
                found.append((panel['title'], target['expr']))
            walk(panel.get('panels', []))
    walk(dashboard['panels'])
    for variable in dashboard.get('templating', {}).get('list', []):
        if variable.get('type') == 'query':
            query = variable['query']['query'] if isinstance(variable['query'], dict) else variable['query']
            inner = re.match(r'^label_values\((.*),\s*\w+\)$', query)
            found.append(('variable ' + variable['name'], inner.group(1) if inner else query))
    return found


def test_metric_name_extraction():
    assert metric_names('sum by (ippool) (ipam_allocations_in_use{job="a",x=~"b{c}"}) / on (ippool) ipam_ippool_size') == \
        {'ipam_allocations_in_use', 'ipam_ippool_size'}
    assert metric_names('rate(felix_x_sum{a="b"}[$__rate_interval]) > 0.5 or vector(0)') == {'felix_x_sum'}
    assert metric_names('absent(up{job="x"} == 1)') == {'up'}


def test_the_documented_list_is_read():
    known = documented()
    assert len(known) > 30 and known['felix_int_dataplane_failures'] == 'counter' and known['up'] == 'gauge'


def test_there_are_three_dashboards():
    assert [p.name for p in DASHBOARDS] == ['calico-felix.json', 'calico-kube-controllers.json', 'calico-typha.json']


@pytest.mark.parametrize('path', DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_uses_only_documented_metrics(path):
    dashboard = json.loads(path.read_text())
    assert dashboard['uid'] and dashboard['title'] and dashboard['panels']
    ids = []

    def collect(panels):
        for panel in panels:
            ids.append(panel['id'])
            collect(panel.get('panels', []))
    collect(dashboard['panels'])
    assert len(ids) == len(set(ids)), 'panel ids are unique'
    known = documented()
    exprs = expressions(dashboard)
    assert exprs
    for title, expr in exprs:
        names = metric_names(expr)
        assert names, (title, expr)
        unknown = [name for name in names if base_name(name, known) is None]
        assert not unknown, '%s: %s uses %s, not in docs/monitoring-metrics.md' % (path.name, title, unknown)


def test_rules_use_only_documented_metrics_and_carry_runbooks():
    known = documented()
    runbook = (REPO_ROOT / 'docs' / 'monitoring-runbook.md').read_text()
    anchors = set(re.findall(r'^#+ .*?\{#([a-z0-9-]+)\}|^<a id="([a-z0-9-]+)"', runbook, re.M))
    anchors = {a or b for a, b in anchors}
    rules = [rule for group in yaml.safe_load(RULES.read_text())['groups'] for rule in group['rules']]
    assert len(rules) >= 9
    for rule in rules:
        unknown = [name for name in metric_names(rule['expr']) if base_name(name, known) is None]
        assert not unknown, (rule['alert'], unknown)
        annotations = rule['annotations']
        assert annotations['summary'] and annotations['description'], rule['alert']
        anchor = annotations['runbook_url'].split('#')[1]
        assert anchor == rule['alert'].lower()
        assert anchor in anchors, '%s: no anchor #%s in docs/monitoring-runbook.md' % (rule['alert'], anchor)
