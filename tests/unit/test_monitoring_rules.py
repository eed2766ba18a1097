# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The alerting rules pass `promtool check rules` and their unit tests (`promtool test rules
tests/monitoring/calico-rules.test.yml`): each alert fires on the series that should trigger it,
with the summary and description operators read, and stays silent on healthy series. Also the
rule file the role writes (the PrometheusRule's groups, runbook URLs rewritten) passes the check."""

import shutil
import subprocess

import yaml

from conftest import REPO_ROOT, missing_component
from ansible_collections.k8snet.calico.plugins.module_utils.monitoring import objects

RULES = REPO_ROOT / 'roles' / 'calico_monitoring' / 'files' / 'calico-rules.yml'
TESTS = REPO_ROOT / 'tests' / 'monitoring' / 'calico-rules.test.yml'


def promtool():
    path = shutil.which('promtool')
    if not path:
        missing_component('promtool (Debian package prometheus)')
    return path


def run(*args, cwd=None):
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def test_check_rules():
    result = run('check', 'rules', str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS: 11 rules found' in result.stdout


def test_rule_unit_tests():
    result = run('test', 'rules', TESTS.name, cwd=TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS' in result.stdout


def test_every_alert_has_a_unit_test():
    alerts = {rule['alert'] for group in yaml.safe_load(RULES.read_text())['groups'] for rule in group['rules']}
    tested = {case['alertname'] for test in yaml.safe_load(TESTS.read_text())['tests']
              for case in test.get('alert_rule_test', []) if case.get('exp_alerts')}
    assert alerts == tested


def test_a_broken_expectation_fails(tmp_path):
    """The unit tests can fail: the same test file with a wrong severity does."""
    text = TESTS.read_text().replace('../../roles/calico_monitoring/files/calico-rules.yml', str(RULES))
    (tmp_path / 'broken.test.yml').write_text(text.replace('severity: critical, job: calico-felix-metrics', 'severity: info, job: calico-felix-metrics', 1))
    result = run('test', 'rules', 'broken.test.yml', cwd=tmp_path)
    assert result.returncode != 0 and 'FAILED' in result.stdout + result.stderr


def test_the_rule_file_written_by_the_role_passes(tmp_path):
    config = {'typha': False, 'runbook_url': 'https://wiki.example.internal/runbook',
              'rules': yaml.safe_load(RULES.read_text())}
    path = tmp_path / 'calico-rules.yml'
    path.write_text(yaml.safe_dump({'groups': objects.rule_groups(config)}))
    result = run('check', 'rules', str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS: 9 rules found' in result.stdout


def test_scrape_configs_pass_promtool_check_config(tmp_path):
    """The scrape configs written without prometheus-operator, with the rule file, in a prometheus.yml.
    Debian's promtool is built without Kubernetes service discovery; with that build the
    kubernetes_sd_configs are swapped for static_configs, so the rest (relabel regexes, durations,
    rule file) is still checked."""
    config = {'felix_metrics_port': 9091, 'typha_metrics_port': 9093, 'kube_controllers_metrics_port': 9094,
              'namespace': 'monitoring', 'calico_namespace': 'kube-system', 'typha': True,
              'scrape_interval': '30s', 'rules': yaml.safe_load(RULES.read_text())}
    (tmp_path / 'calico-rules.yml').write_text(yaml.safe_dump({'groups': objects.rule_groups(config)}))
    prometheus = dict(objects.scrape_configs(config), rule_files=['calico-rules.yml'])
    (tmp_path / 'prometheus.yml').write_text(yaml.safe_dump(prometheus))
    result = run('check', 'config', 'prometheus.yml', cwd=tmp_path)
    if result.returncode != 0 and 'field kubernetes_sd_configs not found' in result.stdout + result.stderr:
        for job in prometheus['scrape_configs']:
            assert job.pop('kubernetes_sd_configs') == [{'role': 'endpoints', 'namespaces': {'names': ['kube-system']}}]
            job['static_configs'] = [{'targets': ['127.0.0.1:9091']}]
        (tmp_path / 'prometheus.yml').write_text(yaml.safe_dump(prometheus))
        result = run('check', 'config', 'prometheus.yml', cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS' in result.stdout + result.stderr and '11 rules found' in result.stdout + result.stderr
