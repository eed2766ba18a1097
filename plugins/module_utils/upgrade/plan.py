# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan of an upgrade: every preflight check and the comparison of the two releases, from
what was read (no cluster access here)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import checks, manifests, versions

# The checks a refusal comes from; each can be overridden (see ALLOW).
CHECKS = ('downgrade', 'upgrade_path', 'kubernetes_version', 'not_ready', 'ipam')


def _node_images(workloads):
    for obj in workloads or ():
        if obj.get('kind') == 'DaemonSet' and (obj.get('metadata') or {}).get('name') == 'calico-node':
            spec = ((obj.get('spec') or {}).get('template') or {}).get('spec') or {}
            containers = spec.get('containers') or []
            ordered = [c for c in containers if c.get('name') == 'calico-node'] + \
                [c for c in containers if c.get('name') != 'calico-node']
            return [c.get('image') for c in ordered]
    return []


def preflight(target_version, workloads, cluster_information=None, kubernetes_version=None, current_version=None,
              ip_pools=None, ipam_blocks=None, allow=(), namespace='kube-system'):
    """The preflight part of the plan: a dict with running_version (and where it was read),
    refusals [{check, message}] (those of the checks in ``allow`` go to overridden instead),
    notes (also given as warnings), kubernetes_tested, readiness, ipam. ``namespace``: where
    calico-node runs (kube-system with the manifest method, calico-system with the operator)."""
    result = _checks(target_version, workloads, cluster_information, kubernetes_version, current_version,
                     ip_pools, ipam_blocks, namespace)
    result['overridden'] = [r for r in result['refusals'] if r['check'] in allow]
    result['refusals'] = [r for r in result['refusals'] if r['check'] not in allow]
    return result


def _checks(target_version, workloads, cluster_information, kubernetes_version, current_version, ip_pools,
            ipam_blocks, namespace):
    result = dict(refusals=[], notes=[], target_version=target_version)
    versions.parse(target_version)
    cluster_version = ((cluster_information or {}).get('spec') or {}).get('calicoVersion')
    result['cluster_information_version'] = cluster_version
    if current_version:
        versions.parse(current_version)
        running, source, note = current_version, 'calico_upgrade_current_version', ''
    else:
        running, source, note = versions.running_version(_node_images(workloads), cluster_version)
    result.update(running_version=running, running_version_source=source)
    if note:
        result['notes'].append(note)
    if running is None:
        result['refusals'].append(dict(check='not_installed', message=(
            'no running Calico found: no calico-node DaemonSet with a versioned image in %s and no '
            'ClusterInformation default; install it with install.yml, or name the running release in '
            'calico_upgrade_current_version' % namespace)))
        return result

    for code, message in versions.check_path(running, target_version):
        result['refusals'].append(dict(check=code, message=message))
    refusal, warning, tested = versions.check_kubernetes(target_version, kubernetes_version)
    result['kubernetes_version'] = kubernetes_version
    result['kubernetes_tested'] = tested
    if refusal:
        result['refusals'].append(dict(check=refusal[0], message=refusal[1]))
    if warning:
        result['notes'].append(warning)

    readiness = []
    for obj in workloads or ():
        ready, text = checks.workload_ready(obj)
        readiness.append(text)
        if not ready:
            result['refusals'].append(dict(check='not_ready', message='not every pod is ready before the upgrade: ' + text))
    if not any(obj.get('kind') == 'DaemonSet' for obj in workloads or ()):
        result['refusals'].append(dict(check='not_ready', message='DaemonSet %s/calico-node not found' % namespace))
    result['readiness'] = readiness

    if ipam_blocks is None:
        result['ipam'] = None
        result['notes'].append('IPAM capacity not checked (the etcdv3 datastore: its blocks are not read here)')
    else:
        pools, free = checks.ipam_capacity(ip_pools or [], ipam_blocks)
        result['ipam'] = dict(pools=pools, addresses_free=free)
        if not [p for p in pools if not p['disabled']]:
            result['refusals'].append(dict(check='ipam', message='no enabled IP pool: pods that restart get no address'))
        elif free == 0:
            result['refusals'].append(dict(check='ipam', message=(
                'no free address in the enabled IP pools (%s): calico-kube-controllers, restarted by the upgrade, '
                'would get none' % ', '.join('%s %s' % (p['name'], p['cidr']) for p in pools if not p['disabled']))))
    return result


def compare_releases(current_upstream, target_upstream, target_rendered, live_objects=None, compare_settings=True):
    """The manifest part of the plan: the objects to back up (every object the running release's
    upstream manifest or the target's render names), those upstream removed, those the upgrade
    adds, and the default-change report (when the live objects are given; with
    ``compare_settings`` false it is empty: the operator's defaults are in its code, not in its
    manifest). A CustomResourceDefinition upstream removed is never deleted (that would delete
    every resource of it): it is listed in removed_kept instead of removed_present."""
    backup = manifests.union_refs(current_upstream, target_rendered)
    result = dict(
        backup_objects=[list(item) for item in backup],
        removed_upstream=[list(item) for item in manifests.removed_upstream(current_upstream, target_upstream,
                                                                            target_rendered)],
    )
    if live_objects is not None:
        live = manifests.select(live_objects, backup)
        live_ids = set(manifests.identity(manifests.ref(obj)) for obj in live)
        result['live_objects'] = [list(manifests.ref(obj)) for obj in live]
        result['added_by_upgrade'] = [list(item) for item in manifests.refs(target_rendered)
                                      if manifests.identity(item) not in live_ids]
        present = [item for item in result['removed_upstream'] if manifests.identity(tuple(item)) in live_ids]
        result['removed_present'] = [item for item in present if item[1] != 'CustomResourceDefinition']
        result['removed_kept'] = [item for item in present if item[1] == 'CustomResourceDefinition']
        report = manifests.default_changes(current_upstream, target_upstream, live, target_rendered) \
            if compare_settings else []
        result['setting_report'] = report
        result['default_changes'] = [entry for entry in report if entry['status'] == 'changes']
    return result


def changed_objects(registered):
    """'Kind namespace/name' of every object that a kubernetes.core.k8s task (or a loop of them)
    changed or, in check mode, would change: ``registered`` is a list of what those tasks
    registered. One object applied comes back as the result itself, several as result.results;
    a skipped task has neither."""
    found = []
    for task in registered or ():
        if not isinstance(task, dict):
            continue
        for entry in task.get('results') if isinstance(task.get('results'), list) else [task]:
            result = entry.get('result') if isinstance(entry, dict) else None
            if not isinstance(result, dict):
                continue
            items = result.get('results') if isinstance(result.get('results'), list) else [entry]
            for item in items:
                obj = item.get('result') or {}
                if not item.get('changed') or not obj.get('kind'):
                    continue
                metadata = obj.get('metadata') or {}
                name = '%s/%s' % (metadata['namespace'], metadata.get('name')) if metadata.get('namespace') \
                    else metadata.get('name')
                found.append('%s %s' % (obj['kind'], name))
    return found
