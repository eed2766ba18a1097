# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runner of the calicoctl module: a batch of Calico resources made true in a datastore.

    input -> validate the whole batch -> read live (one list per kind) -> validate against live
          -> plan (create / update / delete / unchanged) -> write the changes -> results

Nothing is written when any resource of the batch is invalid. Writes follow the input's order
(a BGPFilter before the BGPPeer that names it); deletions (``state: absent`` and prune) come after
every create and update, so a replacement peering exists before the one it replaces goes away.
A write that meets a conflict (409, failed etcd compare) is planned again from a fresh read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.k8snet.calico.plugins.module_utils.calico import compare, kinds, validation
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import Conflict, DatastoreError

MANAGED_BY_LABEL = 'k8snet.calico/managed-by'
CONFLICT_RETRIES = 3
ACTION_PAST = {'create': 'created', 'update': 'updated', 'delete': 'deleted', 'none': 'unchanged'}


class ApplyError(Exception):
    """A write failed after the batch was validated; ``results`` tells what was already written."""

    def __init__(self, message, results):
        super(ApplyError, self).__init__(message)
        self.results = results


def flatten(documents):
    """Resources from parsed YAML/JSON documents: lists, ``<Kind>List`` objects and ``List``s opened."""
    resources = []
    for doc in documents:
        if doc is None:
            continue
        if isinstance(doc, list):
            resources.extend(flatten(doc))
        elif isinstance(doc, dict) and isinstance(doc.get('kind'), str) and doc['kind'].endswith('List') \
                and isinstance(doc.get('items'), list):
            resources.extend(flatten(doc['items']))
        else:
            resources.append(doc)
    return resources


def _key(resource):
    return resource['kind'], resource['metadata']['name']


def _referenced_kinds(resource):
    """Kinds whose live resources the validation of ``resource`` reads (a BGPPeer's filters)."""
    if resource['kind'] == 'BGPPeer' and (resource.get('spec') or {}).get('filters'):
        return [kinds.lookup('BGPFilter')]
    return []


def prunable_kinds():
    return [kind for kind in kinds.KINDS if not kind.read_only and not kind.node]


class Runner(object):
    """Plans and applies a batch against a store (see store.py)."""

    def __init__(self, store, check_mode=False, datastore=None):
        self.store = store
        self.check_mode = check_mode
        self.datastore = datastore

    def run(self, resources, state='present', prune=False, managed_by=None):
        desired = validation.validate_resources(resources, state, datastore=self.datastore)
        if managed_by and state != 'absent':
            desired = [self._label(resource, managed_by) for resource in desired]
        live = self._read_live(desired, prune and managed_by)
        validation.validate_against_live(desired, dict((name, [entry[0] for entry in found.values()])
                                                       for name, found in live.items()))
        plan = []
        for resource in desired:
            kind = kinds.lookup(resource['kind'])
            entry = live[kind.name].get(resource['metadata']['name'])
            plan.append((kind, resource, entry, compare.changes(entry[0] if entry else None, resource, state)))
        if prune and managed_by:
            plan.extend(self._prune_plan(desired, live, managed_by))
        self._refuse_operator_pools(plan)
        ordered = [step for step in plan if step[3].action != 'delete'] + [step for step in plan if step[3].action == 'delete']
        results = []
        for kind, resource, entry, change in ordered:
            results.append(self._execute(kind, resource, entry, change, state, results))
        return results

    def _refuse_operator_pools(self, plan):
        """On an operator-installed cluster the IPPools of the Installation are the operator's:
        refuse to write one (before anything is written, check mode too)."""
        pools = [step for step in plan if step[0].name == 'IPPool' and step[3].action != 'none']
        owned = self.store.operator_pools() if pools and hasattr(self.store, 'operator_pools') else {}
        refused = []
        for _kind, resource, _entry, change in pools:
            name = resource['metadata']['name']
            if name in owned:
                refused.append("IPPool/%s (%s): Installation default names it in spec.calicoNetwork.ipPools[%d].name "
                               "'%s'" % (name, change.action, owned[name], name))
        if refused:
            raise ApplyError('refused, nothing was written: %s. The Tigera operator creates and reconciles these '
                             'pools from the Installation (calico_install_method operator), so a write here would '
                             'fight it: change calico_ip_pools / calico_encapsulation and re-run install.yml '
                             'instead.' % '; '.join(refused), [])

    @staticmethod
    def _label(resource, managed_by):
        if kinds.lookup(resource['kind']).node:
            return resource
        resource = copy.deepcopy(resource)
        resource['metadata'].setdefault('labels', {})[MANAGED_BY_LABEL] = managed_by
        return resource

    def _read_live(self, desired, pruning):
        wanted = []
        for resource in desired:
            for kind in [kinds.lookup(resource['kind'])] + _referenced_kinds(resource):
                if kind not in wanted:
                    wanted.append(kind)
        if pruning:
            wanted.extend(kind for kind in prunable_kinds() if kind not in wanted)
        return dict((kind.name, self.store.list(kind)) for kind in wanted)

    @staticmethod
    def _prune_plan(desired, live, managed_by):
        keep = set(_key(resource) for resource in desired)
        steps = []
        for kind in prunable_kinds():
            for name, entry in sorted(live.get(kind.name, {}).items()):
                labels = entry[0].get('metadata', {}).get('labels') or {}
                if labels.get(MANAGED_BY_LABEL) == managed_by and (kind.name, name) not in keep:
                    target = {'apiVersion': kinds.API_VERSION, 'kind': kind.name, 'metadata': {'name': name}}
                    steps.append((kind, target, entry, compare.changes(entry[0], target, 'absent')))
        return steps

    def _execute(self, kind, resource, entry, change, state, done):
        name = resource['metadata']['name']
        for attempt in range(CONFLICT_RETRIES + 1):
            if change.action == 'none':
                break
            try:
                self._write(kind, change, entry)
                break
            except Conflict:
                if attempt == CONFLICT_RETRIES:
                    raise ApplyError('%s/%s: still conflicting after %d fresh reads; written so far: %s'
                                     % (kind.name, name, CONFLICT_RETRIES, _summary(done)), done)
                entry = self.store.get(kind, name)
                change = compare.changes(entry[0] if entry else None, resource, state)
            except DatastoreError as exc:
                raise ApplyError('%s/%s: %s; written so far: %s' % (kind.name, name, exc, _summary(done)), done)
        return {'kind': kind.name, 'name': name, 'action': ACTION_PAST[change.action],
                'changed': change.action != 'none', 'diff': list(change.diff),
                'before': change.before, 'after': change.after}

    def _write(self, kind, change, entry):
        version = entry[1] if entry else None
        if change.action == 'create':
            self.store.create(kind, change.resource, dry_run=self.check_mode)
        elif change.action == 'update':
            self.store.update(kind, change.resource, version, dry_run=self.check_mode)
        elif change.action == 'delete':
            self.store.delete(kind, change.resource['metadata']['name'], version, dry_run=self.check_mode)


def _summary(results):
    written = ['%s/%s %s' % (r['kind'], r['name'], r['action']) for r in results if r['changed']]
    return ', '.join(written) or 'nothing'
