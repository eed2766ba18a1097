# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What changes when a desired Calico resource meets the live one.

Both are v3 resources (storage.from_* reads either datastore into that form; validation gives the
desired one with calicoctl's defaults). Compared: metadata.labels, metadata.annotations and spec;
never the metadata a datastore owns (uid, resourceVersion, creationTimestamp, generation,
managedFields), the annotation libcalico-go adds to a Node (projectcalico.org/kube-labels), status,
or a field whose live value is only the CRD default the API server filled in. Defaults are
compared, not re-sent: the desired resource already carries them, so a re-run is a no-op.

state present   the desired labels, annotations and spec replace the live ones (calicoctl apply);
state patched   the desired fields are merged into the live resource: mappings recursively, lists
                replaced, None removes a field (JSON merge patch); the result is validated like a
                complete resource (it may raise ValidationErrors);
state absent    delete when the resource exists.
A Node is always merged (its labels and spec.bgp only; the rest is Calico's).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.k8snet.calico.plugins.module_utils.calico import defaults as calico_defaults
from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.calico import resource_validation
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.diff import MISSING, diff_values

# Annotations libcalico-go's storage adds on read (never a change, never written back by us).
STORAGE_ANNOTATIONS = ('projectcalico.org/metadata', 'projectcalico.org/kube-labels')
SERVER_METADATA = ('uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'selfLink')

CREATE, UPDATE, DELETE, NONE = 'create', 'update', 'delete', 'none'


class Change:
    """The plan for one resource.

    action    create, update, delete or none
    before    the live resource as v3 (None when absent), server-managed metadata and status removed
    after     the resource after the change, same view (None when deleted)
    diff      the changed paths ('spec.asNumber', 'metadata.labels.rack'), sorted
    resource  what to write: the complete v3 resource (for update: with the live uid,
              creationTimestamp, resourceVersion and status), or for delete the live one
    """

    __slots__ = ('action', 'before', 'after', 'diff', 'resource')

    def __init__(self, action, before, after, diff, resource):
        self.action = action
        self.before = before
        self.after = after
        self.diff = diff
        self.resource = resource

    @property
    def changed(self):
        return self.action != NONE

    def __repr__(self):
        return 'Change(%s, %s)' % (self.action, ', '.join(self.diff))


def _kind(resource):
    return calico_kinds.lookup(resource.get('kind'))


def view(resource):
    """The v3 resource without what the datastore owns: apiVersion, kind, metadata (name, labels,
    annotations), spec (for a Node: spec.bgp only). None stays None."""
    if resource is None:
        return None
    kind = _kind(resource)
    metadata = resource.get('metadata') or {}
    shown = {'name': metadata.get('name')}
    if metadata.get('namespace'):
        shown['namespace'] = metadata['namespace']
    labels = metadata.get('labels') or {}
    annotations = dict((key, value) for key, value in (metadata.get('annotations') or {}).items()
                       if key not in STORAGE_ANNOTATIONS)
    if labels:
        shown['labels'] = dict(sorted(labels.items()))
    if annotations:
        shown['annotations'] = dict(sorted(annotations.items()))
    spec = copy.deepcopy(resource.get('spec') or {})
    if kind.managed_spec:
        spec = dict((key, value) for key, value in spec.items() if key in kind.managed_spec)
    return {'apiVersion': calico_kinds.API_VERSION, 'kind': kind.name, 'metadata': shown, 'spec': spec}


def _comparable(resource):
    shown = view(resource)
    calico_defaults.strip_server_defaults(shown)
    metadata = shown['metadata']
    return {'metadata': dict((key, metadata[key]) for key in ('labels', 'annotations') if key in metadata),
            'spec': shown['spec']}


def diff_paths(before, after):
    """Changed paths between two v3 resources (either may be None)."""
    empty = {'metadata': {}, 'spec': {}}
    old = _comparable(before) if before is not None else empty
    new = _comparable(after) if after is not None else empty
    paths = []
    for change in diff_values(old, new):
        if change.before is MISSING and isinstance(change.after, dict) and change.after:
            paths += ['%s.%s' % (change.path, key) for key in change.after]
        elif change.after is MISSING and isinstance(change.before, dict) and change.before:
            paths += ['%s.%s' % (change.path, key) for key in change.before]
        else:
            paths.append(change.path)
    return sorted(set(paths))


def merge(live, patch):
    """JSON merge patch (RFC 7386): mappings merged recursively, None removes, anything else
    (lists included) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(live) if isinstance(live, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _strip_nones(value):
    if isinstance(value, dict):
        return dict((key, _strip_nones(item)) for key, item in value.items() if item is not None)
    return value


def _with_live_identity(resource, live):
    """The resource to write on update: live uid, creationTimestamp, resourceVersion and status kept
    (calicoctl merges the stored metadata; the status belongs to Calico's components)."""
    result = copy.deepcopy(resource)
    metadata = result.setdefault('metadata', {})
    live_metadata = live.get('metadata') or {}
    for key in SERVER_METADATA:
        if key in live_metadata:
            metadata[key] = live_metadata[key]
        else:
            metadata.pop(key, None)
    kept = dict((key, value) for key, value in (live_metadata.get('annotations') or {}).items()
                if key in STORAGE_ANNOTATIONS)
    if kept:
        metadata['annotations'] = dict(sorted(list((metadata.get('annotations') or {}).items()) + list(kept.items())))
    if 'status' in live:
        result['status'] = copy.deepcopy(live['status'])
    else:
        result.pop('status', None)
    return result


def _patch_of(desired):
    """The patch a (validated) desired resource carries: its labels, annotations and spec."""
    metadata = desired.get('metadata') or {}
    patch = {}
    meta_patch = dict((key, metadata[key]) for key in ('labels', 'annotations') if key in metadata)
    if meta_patch:
        patch['metadata'] = meta_patch
    if 'spec' in desired:
        patch['spec'] = desired['spec']
    return patch


def changes(live, desired, state):
    """The Change that brings ``live`` (v3 or None) to ``desired`` (from validate_resources) for
    ``state``. Raises ValidationErrors when a patch makes an invalid resource, or patches a
    resource that does not exist."""
    kind = _kind(desired)
    if state == 'absent':
        if live is None:
            return Change(NONE, None, None, [], None)
        return Change(DELETE, view(live), None, diff_paths(live, None), copy.deepcopy(live))
    if state not in ('present', 'patched'):
        raise ValueError('unknown state %r' % state)
    if kind.read_only:
        raise ValidationErrors(['%s: is read-only' % resource_validation.resource_label(desired)])
    merged_state = state == 'patched' or kind.node
    if live is None:
        if state == 'patched':
            raise ValidationErrors(['%s: does not exist; state patched changes existing resources only'
                                    % resource_validation.resource_label(desired)])
        resource = _strip_nones(copy.deepcopy(desired))
        for field in ('labels', 'annotations'):
            if field in resource.get('metadata', {}) and not resource['metadata'][field]:
                del resource['metadata'][field]
        if merged_state:
            resource = resource_validation.canonical_after_merge(resource)
        return Change(CREATE, None, view(resource), diff_paths(None, resource), resource)
    if merged_state:
        patch = _patch_of(desired)
        target = copy.deepcopy(live)
        target['metadata'] = merge(live.get('metadata') or {}, patch.get('metadata') or {})
        for field in ('labels', 'annotations'):
            if field in target['metadata'] and not target['metadata'][field]:
                del target['metadata'][field]
        target['spec'] = merge(live.get('spec') or {}, patch.get('spec') or {})
        resource = resource_validation.canonical_after_merge(target)
    else:
        resource = calico_defaults.carry_server_defaults(copy.deepcopy(desired), live)
    resource = _with_live_identity(resource, live)
    paths = diff_paths(live, resource)
    return Change(UPDATE if paths else NONE, view(live), view(resource), paths, resource)
