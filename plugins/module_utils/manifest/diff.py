# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The semantic difference between two sets of Kubernetes objects (e.g. an upstream manifest and
its rendered form, or the manifests of two releases).

Objects are matched by apiVersion, kind, namespace and name; lists whose items all have a unique
``name`` (containers, env, volumes, ports) are matched by name, other lists by position. Each
difference is a ``Change`` with a readable path::

    DaemonSet kube-system/calico-node: spec.template.spec.containers[calico-node].env[IP]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class _Missing:
    def __repr__(self):
        return '<missing>'


MISSING = _Missing()


class Change:
    __slots__ = ('obj', 'path', 'before', 'after')

    def __init__(self, obj, path, before, after):
        self.obj = obj
        self.path = path
        self.before = before
        self.after = after

    @property
    def where(self):
        return '%s: %s' % (self.obj, self.path) if self.path else self.obj

    def __repr__(self):
        return 'Change(%s, %r -> %r)' % (self.where, self.before, self.after)


def object_id(obj):
    metadata = obj.get('metadata') or {}
    namespace = metadata.get('namespace')
    name = metadata.get('name')
    return '%s %s' % (obj.get('kind'), '%s/%s' % (namespace, name) if namespace else name)


def _key(obj):
    metadata = obj.get('metadata') or {}
    return (obj.get('apiVersion'), obj.get('kind'), metadata.get('namespace') or '', metadata.get('name'))


def _named(items):
    names = [item.get('name') if isinstance(item, dict) else None for item in items]
    if not items or None in names or len(set(names)) != len(names):
        return None
    return names


def diff_values(before, after, obj='', path=''):
    """Changes between two values; dicts by key, named lists by name, other lists by index."""
    if type(before) is not type(after) and not (isinstance(before, (int, float)) and isinstance(after, (int, float))
                                                and not isinstance(before, bool) and not isinstance(after, bool)):
        return [Change(obj, path, before, after)]
    if isinstance(before, dict):
        changes = []
        keys = list(before) + [key for key in after if key not in before]
        for key in keys:
            sub = '%s.%s' % (path, key) if path else str(key)
            changes += diff_values(before.get(key, MISSING), after.get(key, MISSING), obj, sub) \
                if key in before and key in after else [Change(obj, sub, before.get(key, MISSING),
                                                               after.get(key, MISSING))]
        return changes
    if isinstance(before, list):
        names_before, names_after = _named(before), _named(after)
        if names_before is not None and names_after is not None:
            changes = []
            by_name = dict(zip(names_after, after))
            for name, item in zip(names_before, before):
                sub = '%s[%s]' % (path, name)
                if name in by_name:
                    changes += diff_values(item, by_name[name], obj, sub)
                else:
                    changes.append(Change(obj, sub, item, MISSING))
            for name, item in zip(names_after, after):
                if name not in names_before:
                    changes.append(Change(obj, '%s[%s]' % (path, name), MISSING, item))
            if [n for n in names_before if n in by_name] != [n for n in names_after if n in names_before]:
                changes.append(Change(obj, path + '(order)', names_before, names_after))
            return changes
        if len(before) != len(after) or any(isinstance(item, (dict, list)) for item in before + after):
            if len(before) == len(after):
                changes = []
                for number, (one, two) in enumerate(zip(before, after)):
                    changes += diff_values(one, two, obj, '%s[%d]' % (path, number))
                return changes
            return [Change(obj, path, before, after)]
        return [] if before == after else [Change(obj, path, before, after)]
    return [] if before == after else [Change(obj, path, before, after)]


def diff_objects(before, after):
    """Changes between two lists of Kubernetes objects (parsed documents)."""
    old = dict((_key(obj), obj) for obj in before if isinstance(obj, dict))
    new = dict((_key(obj), obj) for obj in after if isinstance(obj, dict))
    changes = []
    for key, obj in old.items():
        if key in new:
            changes += diff_values(obj, new[key], object_id(obj), '')
        else:
            changes.append(Change(object_id(obj), '', obj, MISSING))
    for key, obj in new.items():
        if key not in old:
            changes.append(Change(object_id(obj), '', MISSING, obj))
    return changes
