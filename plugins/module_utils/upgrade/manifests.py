# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two releases' manifests compared: the settings whose upstream default changes, the objects
upstream removed, the objects an upgrade reads and backs up.

A manifest is handled here as a list of parsed objects (dicts): an upstream manifest, a rendered
one, or the live objects read from the API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.k8snet.calico.plugins.module_utils.manifest import cni
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.document import POD_SPEC_PATHS

CONFIG_MAP = 'calico-config'
CNI_KEY = 'cni_network_config'
WORKLOAD_KINDS = ('DaemonSet', 'Deployment')

# Fields of a live object that the API server or a controller writes: never part of a backup that
# is applied again (an apply of them would fail, or take them over from their owner).
SERVER_METADATA = ('managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink',
                   'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences')
CONTROLLER_ANNOTATIONS = ('deprecated.daemonset.template.generation', 'deployment.kubernetes.io/revision')


def ref(obj):
    """(apiVersion, kind, namespace, name) of an object; namespace '' when it has none."""
    metadata = obj.get('metadata') or {}
    return (obj.get('apiVersion', ''), obj.get('kind', ''), metadata.get('namespace') or '', metadata.get('name', ''))


def show_ref(item):
    api_version, kind, namespace, name = item
    return '%s %s' % (kind, '%s/%s' % (namespace, name) if namespace else name)


def refs(objects):
    return [ref(obj) for obj in objects if isinstance(obj, dict) and obj.get('kind')]


def identity(item):
    """An object's identity whatever the version of its apiVersion (policy/v1beta1 and policy/v1
    name the same object): (group, kind, namespace, name)."""
    return (item[0].split('/')[0] if '/' in item[0] else '', item[1], item[2], item[3])


def removed_upstream(current_upstream, target_upstream, target_rendered=()):
    """The objects of the running release's upstream manifest that the target release's upstream
    manifest (and the render of it) no longer has: the only objects an upgrade deletes."""
    kept = set(identity(r) for r in refs(target_upstream)) | set(identity(r) for r in refs(target_rendered))
    found = []
    for item in refs(current_upstream):
        if identity(item) not in kept and item not in found:
            found.append(item)
    return found


def union_refs(*manifests):
    """Every object named by any of ``manifests``, once, in order of first appearance."""
    seen, found = set(), []
    for objects in manifests:
        for item in refs(objects):
            if identity(item) not in seen:
                seen.add(identity(item))
                found.append(item)
    return found


def select(objects, items):
    """The objects of ``objects`` (live, as listed) named in ``items``, in the order of ``items``."""
    by_id = dict((identity(ref(obj)), obj) for obj in objects if isinstance(obj, dict))
    return [by_id[identity(item)] for item in items if identity(item) in by_id]


def clean_live(obj):
    """A live object as it can be applied again: without status and the fields the server or a
    controller writes (managedFields, resourceVersion, uid, ...)."""
    clean = copy.deepcopy(obj)
    clean.pop('status', None)
    metadata = clean.setdefault('metadata', {})
    for field in SERVER_METADATA:
        metadata.pop(field, None)
    annotations = metadata.get('annotations') or {}
    for name in CONTROLLER_ANNOTATIONS:
        annotations.pop(name, None)
    if 'annotations' in metadata and not annotations:
        metadata.pop('annotations')
    return clean


def clean_resource(resource):
    """A Calico resource (projectcalico.org/v3, as calicoctl get -o yaml shows it) as it can be
    applied again with the calicoctl module: without status and the fields the datastore writes.
    A Node keeps what the module manages on it (its labels and spec.bgp): its addresses, orchRefs,
    annotations and status are calico-node's and the kubelet's, written again by them."""
    clean = copy.deepcopy(resource)
    clean.pop('status', None)
    metadata = clean.setdefault('metadata', {})
    for field in ('resourceVersion', 'uid', 'creationTimestamp', 'generation', 'managedFields'):
        metadata.pop(field, None)
    if clean.get('kind') == 'Node':
        clean['metadata'] = dict((k, v) for k, v in metadata.items() if k in ('name', 'labels'))
        spec = clean.get('spec') or {}
        clean['spec'] = dict((k, v) for k, v in spec.items() if k == 'bgp')
    return clean


# --- settings and the default-change report -------------------------------------------------

def _pod_spec(obj):
    node = obj
    for part in POD_SPEC_PATHS.get(obj.get('kind'), ()):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _env_value(entry):
    if 'value' in entry:
        return entry['value']
    source = entry.get('valueFrom')
    if isinstance(source, dict):
        for how, what in sorted(source.items()):
            if isinstance(what, dict):
                return 'from %s %s' % (how, ' '.join('%s=%s' % (k, what[k]) for k in sorted(what)))
        return 'from %s' % json.dumps(source, sort_keys=True)
    return None


def _flatten(prefix, value, into):
    if isinstance(value, dict):
        for name in sorted(value):
            _flatten('%s.%s' % (prefix, name) if prefix else name, value[name], into)
    elif isinstance(value, list) and value and all(isinstance(v, dict) and 'type' in v for v in value):
        for item in value:
            _flatten('%s[type=%s]' % (prefix, item['type']), dict((k, v) for k, v in item.items() if k != 'type'), into)
            into.setdefault('%s[type=%s]' % (prefix, item['type']), 'present')
    elif isinstance(value, list):
        into[prefix] = json.dumps(value, sort_keys=True)
    else:
        into[prefix] = value if value is None or isinstance(value, str) else json.dumps(value)


def settings(objects):
    """The settings an upgrade could flip, as {name: value (str, or None)}:

    - 'env <Kind> <name>/<container>: <VAR>' for every env entry of the containers (init containers
      too) of the DaemonSets and Deployments (calico-node, calico-kube-controllers, calico-typha);
    - 'ConfigMap calico-config: <key>' for every key of calico-config except the CNI template;
    - 'CNI conflist: <path>' for every field of the CNI network configuration template (its
      plugins by type: plugins[type=calico].log_level).
    """
    found = {}
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        kind, name = obj.get('kind'), (obj.get('metadata') or {}).get('name')
        if kind in WORKLOAD_KINDS:
            spec = _pod_spec(obj) or {}
            for key in ('initContainers', 'containers'):
                for container in spec.get(key) or ():
                    for entry in container.get('env') or ():
                        if isinstance(entry, dict) and entry.get('name'):
                            found['env %s %s/%s: %s' % (kind, name, container.get('name'), entry['name'])] = \
                                _env_value(entry)
        elif kind == 'ConfigMap' and name == CONFIG_MAP:
            for key_name, value in sorted((obj.get('data') or {}).items()):
                if key_name == CNI_KEY:
                    flat = {}
                    try:
                        _flatten('', cni.as_json(value), flat)
                    except (ValueError, cni.TemplateError):
                        flat = {'(template)': value}
                    for path, field in flat.items():
                        found['CNI conflist: %s' % path] = field
                else:
                    found['ConfigMap %s: %s' % (CONFIG_MAP, key_name)] = value
    return found


def default_changes(current_upstream, target_upstream, running, target_rendered):
    """Every setting whose upstream default differs between the two releases, with what runs now
    and what the upgrade will apply: a list of dicts (setting, upstream_before, upstream_after,
    running, after_upgrade, status), status one of

    - 'changes': the inventory does not pin it, and the value that runs changes with the upgrade;
    - 'pinned': the render of the inventory sets it (the target differs from upstream's default);
    - 'unchanged': what runs is already what the upgrade applies.

    Values are strings, or None when the setting is absent.
    """
    before, after = settings(current_upstream), settings(target_upstream)
    now, then = settings(running), settings(target_rendered)
    report = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        entry = dict(setting=name, upstream_before=before.get(name), upstream_after=after.get(name),
                     running=now.get(name), after_upgrade=then.get(name))
        if then.get(name) != after.get(name):
            entry['status'] = 'pinned'
        elif now.get(name) == then.get(name):
            entry['status'] = 'unchanged'
        else:
            entry['status'] = 'changes'
        report.append(entry)
    return report
