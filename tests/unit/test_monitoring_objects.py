# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitoring objects built from the inventory (plugins/module_utils/monitoring/objects.py):
Services, ServiceMonitors, PrometheusRule, dashboards, scrape configs, the Typha env, and the plan
that turns metrics on in FelixConfiguration / KubeControllersConfiguration and back."""

import json

import pytest
import yaml

from conftest import REPO_ROOT
from ansible_collections.k8snet.calico.plugins.module_utils.monitoring import objects

ROLE = REPO_ROOT / 'roles' / 'calico_monitoring'


def config(**overrides):
    values = {
        'felix_metrics_port': 9091, 'typha_metrics_port': 9093, 'kube_controllers_metrics_port': 9094,
        'namespace': 'monitoring', 'calico_namespace': 'kube-system', 'typha': True,
        'servicemonitor_labels': {'release': 'monitoring'}, 'rule_labels': {'release': 'monitoring'},
        'dashboard_labels': {'grafana_dashboard': '1'}, 'dashboard_annotations': {},
        'scrape_interval': '30s', 'runbook_url': '',
        'rules': yaml.safe_load((ROLE / 'files' / 'calico-rules.yml').read_text()),
        'dashboards': dict((p.name, p.read_text()) for p in (ROLE / 'files' / 'dashboards').glob('*.json')),
    }
    values.update(overrides)
    return values


def by_kind(found):
    kinds = {}
    for obj in found:
        kinds.setdefault(obj['kind'], []).append(obj)
    return kinds


def test_objects_of_the_seed_with_typha():
    found = objects.build_objects(config())
    kinds = by_kind(found)
    assert [o['kind'] for o in found] == ['Service'] * 3 + ['ServiceMonitor'] * 3 + ['PrometheusRule'] + ['ConfigMap'] * 3
    felix = kinds['Service'][0]
    assert felix['metadata']['name'] == 'calico-felix-metrics' and felix['metadata']['namespace'] == 'kube-system'
    assert felix['spec'] == {'clusterIP': 'None', 'selector': {'k8s-app': 'calico-node'},
                             'ports': [{'name': 'http-metrics', 'port': 9091, 'targetPort': 9091, 'protocol': 'TCP'}]}
    assert [s['spec']['ports'][0]['port'] for s in kinds['Service']] == [9091, 9093, 9094]
    for obj in found:
        assert obj['metadata']['labels']['app.kubernetes.io/managed-by'] == 'k8snet.calico'
        assert obj['metadata']['labels']['app.kubernetes.io/part-of'] == 'calico-monitoring'
    for monitor, service in zip(kinds['ServiceMonitor'], kinds['Service']):
        assert monitor['metadata']['namespace'] == 'monitoring'
        assert monitor['metadata']['labels']['release'] == 'monitoring'
        # The ServiceMonitor selects exactly its Service, in Calico's namespace.
        assert all(service['metadata']['labels'][k] == v for k, v in monitor['spec']['selector']['matchLabels'].items())
        assert monitor['spec']['namespaceSelector'] == {'matchNames': ['kube-system']}
        assert monitor['spec']['endpoints'][0]['port'] == service['spec']['ports'][0]['name']
    rule = kinds['PrometheusRule'][0]
    assert [g['name'] for g in rule['spec']['groups']] == ['calico-felix', 'calico-ipam', 'calico-kube-controllers',
                                                           'calico-typha']
    maps = kinds['ConfigMap']
    assert sorted(m['metadata']['name'] for m in maps) == ['calico-dashboard-felix', 'calico-dashboard-kube-controllers',
                                                           'calico-dashboard-typha']
    assert all(m['metadata']['labels']['grafana_dashboard'] == '1' for m in maps)
    assert json.loads(maps[0]['data']['calico-felix.json'])['uid'] == 'k8snet-calico-felix'


def test_without_typha_there_is_no_typha_object():
    found = objects.build_objects(config(typha=False))
    text = json.dumps(found)
    assert 'calico-typha-metrics' not in [o['metadata']['name'] for o in found]
    assert 'CalicoTyphaDown' not in text and 'calico-dashboard-typha' not in text
    assert len(found) == 2 + 2 + 1 + 2


def test_parts_can_be_left_out():
    found = objects.build_objects(config(), service_monitors_enabled=False, rules_enabled=False,
                                  dashboards_enabled=False)
    assert {o['kind'] for o in found} == {'Service'}


def test_runbook_url_is_rewritten():
    rule = objects.prometheus_rule(config(runbook_url='https://wiki.example.internal/calico/'))
    urls = [r['annotations']['runbook_url'] for g in rule['spec']['groups'] for r in g['rules']]
    assert urls and all(u.startswith('https://wiki.example.internal/calico#calico') for u in urls), urls


def test_bad_values_are_all_named():
    errors = objects.validate(config(felix_metrics_port=70000, typha_metrics_port='x', namespace='Mon itoring',
                                     servicemonitor_labels={'release': 1}, dashboard_labels={'bad key!': '1'},
                                     scrape_interval='30 seconds', dashboards={'x.json': '{not json'}))
    text = '\n'.join(errors)
    for expected in ["calico_monitoring_felix_metrics_port: 70000", "calico_monitoring_typha_metrics_port: 'x'",
                     "calico_monitoring_namespace: 'Mon itoring'", "calico_monitoring_servicemonitor_labels: release: 1",
                     "calico_monitoring_dashboard_labels: 'bad key!'", "calico_monitoring_scrape_interval: '30 seconds'",
                     "calico_monitoring_dashboards: x.json is not valid JSON"]:
        assert expected in text, (expected, errors)
    with pytest.raises(objects.MonitoringError):
        objects.build_objects(config(felix_metrics_port=0))


def test_scrape_configs_keep_only_the_metrics_services():
    jobs = objects.scrape_configs(config(typha=False))['scrape_configs']
    assert [j['job_name'] for j in jobs] == ['calico-felix-metrics', 'calico-kube-controllers-metrics']
    keep = jobs[0]['relabel_configs'][0]
    assert keep['action'] == 'keep' and keep['regex'] == 'calico\\-felix\\-metrics;http-metrics'
    assert jobs[0]['kubernetes_sd_configs'] == [{'role': 'endpoints', 'namespaces': {'names': ['kube-system']}}]
    assert jobs[0]['relabel_configs'][1]['target_label'] == 'node'


def test_typha_env_on_and_off():
    on = objects.typha_env(config(typha_metrics_port=9999))
    [container] = on['spec']['template']['spec']['containers']
    assert container['name'] == 'calico-typha'
    assert container['env'] == [{'name': 'TYPHA_PROMETHEUSMETRICSENABLED', 'value': 'true'},
                                {'name': 'TYPHA_PROMETHEUSMETRICSPORT', 'value': '9999'}]
    off = objects.typha_env(config(), enabled=False)
    assert 'spec' not in off and off['metadata'] == {'name': 'calico-typha', 'namespace': 'kube-system'}


FELIX_FIELDS = {'prometheusMetricsEnabled': True, 'prometheusMetricsPort': 9091}


def felix(spec, annotations=None):
    meta = {'name': 'default'}
    if annotations:
        meta['annotations'] = annotations
    return {'apiVersion': 'projectcalico.org/v3', 'kind': 'FelixConfiguration', 'metadata': meta, 'spec': spec}


def test_metrics_on_records_what_it_replaced():
    plan = objects.metrics_patch('FelixConfiguration', felix({'logSeverityScreen': 'Info'}), FELIX_FIELDS)
    assert plan['action'] == 'write' and plan['state'] == 'patched'
    assert plan['definition']['spec'] == FELIX_FIELDS
    record = json.loads(plan['definition']['metadata']['annotations'][objects.PREVIOUS_ANNOTATION])
    assert record == {'prometheusMetricsEnabled': None, 'prometheusMetricsPort': None}


def test_metrics_already_on_is_left_alone_and_not_claimed():
    plan = objects.metrics_patch('FelixConfiguration', felix({'prometheusMetricsEnabled': True}), FELIX_FIELDS)
    assert plan['action'] == 'none'  # 9091 is Felix's default port
    assert objects.metrics_patch('FelixConfiguration', felix({'prometheusMetricsEnabled': True}), FELIX_FIELDS,
                                 'absent')['action'] == 'none'


def test_second_run_keeps_the_first_record():
    first = json.dumps({'prometheusMetricsEnabled': False, 'prometheusMetricsPort': 9191})
    live = felix({'prometheusMetricsEnabled': True, 'prometheusMetricsPort': 9091}, {objects.PREVIOUS_ANNOTATION: first})
    assert objects.metrics_patch('FelixConfiguration', live, FELIX_FIELDS)['action'] == 'none'
    moved = objects.metrics_patch('FelixConfiguration', live, dict(FELIX_FIELDS, prometheusMetricsPort=9200))
    assert moved['definition']['metadata']['annotations'][objects.PREVIOUS_ANNOTATION] == first


def test_metrics_off_restores_the_record():
    record = json.dumps({'prometheusMetricsEnabled': False, 'prometheusMetricsPort': None})
    live = felix({'prometheusMetricsEnabled': True, 'prometheusMetricsPort': 9091}, {objects.PREVIOUS_ANNOTATION: record})
    plan = objects.metrics_patch('FelixConfiguration', live, FELIX_FIELDS, 'absent')
    assert plan['state'] == 'patched'
    assert plan['definition']['spec'] == {'prometheusMetricsEnabled': False, 'prometheusMetricsPort': None}
    assert plan['definition']['metadata']['annotations'] == {objects.PREVIOUS_ANNOTATION: None}
    with pytest.raises(objects.MonitoringError, match='is not the JSON'):
        objects.metrics_patch('FelixConfiguration', felix({}, {objects.PREVIOUS_ANNOTATION: 'x'}), FELIX_FIELDS, 'absent')


def test_missing_resources():
    created = objects.metrics_patch('FelixConfiguration', None, FELIX_FIELDS)
    assert created['state'] == 'present' and created['definition']['spec'] == FELIX_FIELDS
    kcc = objects.metrics_patch('KubeControllersConfiguration', None, {'prometheusMetricsPort': 9094})
    assert kcc['action'] == 'none' and 'does not exist yet' in kcc['message']


def test_kube_controllers_port():
    live = {'kind': 'KubeControllersConfiguration', 'metadata': {'name': 'default'},
            'spec': {'controllers': {'node': {}}, 'prometheusMetricsPort': 0}}
    plan = objects.metrics_patch('KubeControllersConfiguration', live, {'prometheusMetricsPort': 9094})
    assert plan['definition']['spec'] == {'prometheusMetricsPort': 9094}
    assert json.loads(plan['definition']['metadata']['annotations'][objects.PREVIOUS_ANNOTATION]) == \
        {'prometheusMetricsPort': 0}


def test_grafana_payload_and_compare():
    dashboard = {'uid': 'u', 'title': 't', 'panels': []}
    body = objects.grafana_payload(dict(dashboard, id=7, version=3), 'calico')
    assert body == {'dashboard': dict(dashboard, id=None), 'overwrite': True, 'folderUid': 'calico',
                    'message': 'k8snet.calico monitoring'}
    assert objects.grafana_differs(None, dashboard)
    assert not objects.grafana_differs(dict(dashboard, id=12, version=4), dashboard)
    assert objects.grafana_differs(dict(dashboard, title='other'), dashboard)


def test_references():
    found = objects.build_objects(config(typha=False))
    refs = objects.references(found)
    assert refs[0] == {'apiVersion': 'v1', 'kind': 'Service',
                       'metadata': {'name': 'calico-felix-metrics', 'namespace': 'kube-system'}}
    assert [(r['kind'], r['metadata']['name']) for r in refs] == [(o['kind'], o['metadata']['name']) for o in found]


# -- calico_install_method operator (what tigera/operator renders: pkg/render/typha.go,
# pkg/render/kubecontrollers/kube-controllers.go, pkg/controller/utils/utils.go) --------------

def test_operator_objects_select_the_operators_services():
    found = by_kind(objects.build_objects(config(operator=True, calico_namespace='calico-system')))
    # Only Felix's Service is the collection's: the operator makes Typha's and kube-controllers'.
    assert [s['metadata']['name'] for s in found['Service']] == ['calico-felix-metrics']
    monitors = dict((m['metadata']['name'], m['spec']) for m in found['ServiceMonitor'])
    assert sorted(monitors) == ['calico-felix-metrics', 'calico-kube-controllers-metrics', 'calico-typha-metrics']
    assert monitors['calico-typha-metrics']['selector'] == {'matchLabels': {'k8s-app': 'calico-typha-metrics'}}
    assert monitors['calico-typha-metrics']['endpoints'][0]['port'] == 'calico-typha-metrics'
    assert monitors['calico-kube-controllers-metrics']['selector'] == {
        'matchLabels': {'k8s-app': 'calico-kube-controllers'}}
    assert monitors['calico-kube-controllers-metrics']['endpoints'][0]['port'] == 'metrics-port'
    assert 'jobLabel' not in monitors['calico-typha-metrics']  # job: the Service's name, as the rules expect
    assert monitors['calico-felix-metrics']['selector']['matchLabels']['app.kubernetes.io/name'] == 'calico-felix-metrics'
    for spec in monitors.values():
        assert spec['namespaceSelector'] == {'matchNames': ['calico-system']}
    jobs = objects.scrape_configs(config(operator=True, calico_namespace='calico-system'))['scrape_configs']
    assert [j['relabel_configs'][0]['regex'] for j in jobs] == [
        'calico\\-felix\\-metrics;http-metrics', 'calico\\-typha\\-metrics;calico-typha-metrics',
        'calico\\-kube\\-controllers\\-metrics;metrics-port']


def test_operator_kube_controllers_unset_port_means_no_metrics():
    live = {'metadata': {'name': 'default'}, 'spec': {'controllers': {}}}
    fields = {'prometheusMetricsPort': 9094}
    assert objects.metrics_patch('KubeControllersConfiguration', live, fields)['action'] == 'none'
    plan = objects.metrics_patch('KubeControllersConfiguration', live, fields, operator=True)
    assert plan['action'] == 'write' and plan['definition']['spec'] == fields


def test_installation_patch_on_again_and_back():
    fields = {'nodeMetricsPort': 9091, 'typhaMetricsPort': 9093}
    live = {'metadata': {'name': 'default'}, 'spec': {'registry': 'r/', 'typhaMetricsPort': 9093}}
    plan = objects.installation_patch(live, fields)
    assert plan['action'] == 'write'
    assert plan['definition']['spec'] == fields
    record = plan['definition']['metadata']['annotations'][objects.PREVIOUS_ANNOTATION]
    assert json.loads(record) == {'nodeMetricsPort': None, 'typhaMetricsPort': 9093}
    now = {'metadata': {'name': 'default', 'annotations': {objects.PREVIOUS_ANNOTATION: record}},
           'spec': dict(live['spec'], **fields)}
    assert objects.installation_patch(now, fields)['action'] == 'none'
    back = objects.installation_patch(now, {'nodeMetricsPort': None, 'typhaMetricsPort': None}, state='absent')
    assert back['definition']['spec'] == {'nodeMetricsPort': None, 'typhaMetricsPort': 9093}
    assert back['definition']['metadata']['annotations'] == {objects.PREVIOUS_ANNOTATION: None}
    untouched = objects.installation_patch(live, {'nodeMetricsPort': None}, state='absent')
    assert untouched['action'] == 'none'
    with pytest.raises(objects.MonitoringError, match='Installation default'):
        objects.installation_patch(None, fields)
