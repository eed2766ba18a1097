# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TigeraStatus (operator.tigera.io/v1): the operator's report of each component it runs
(``calico``, ``apiserver``, ``ippools``, ...), with the conditions Available, Progressing and
Degraded. The install waits until every component it asked for is Available and none is
Degraded."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _conditions(status):
    found = {}
    for condition in ((status or {}).get('status') or {}).get('conditions') or []:
        if isinstance(condition, dict) and condition.get('type'):
            found[condition['type']] = condition
    return found


def _reason(condition):
    text = ': '.join(part for part in (condition.get('reason'), condition.get('message')) if part)
    return ' (%s)' % text if text else ''


def pending(statuses, wanted):
    """Sentences, one per component that is not ready yet: each name of ``wanted`` that has no
    TigeraStatus, or whose Available condition is not True, and every TigeraStatus (wanted or
    not) that is Degraded. Empty when the install may go on."""
    by_name = {}
    for status in statuses or []:
        name = ((status or {}).get('metadata') or {}).get('name')
        if name:
            by_name[name] = status
    problems = []
    for name in list(wanted or []) + sorted(set(by_name) - set(wanted or [])):
        if name not in by_name:
            problems.append('%s: no TigeraStatus yet (the operator has not reported it)' % name)
            continue
        conditions = _conditions(by_name[name])
        degraded = conditions.get('Degraded', {})
        available = conditions.get('Available', {})
        if str(degraded.get('status')) == 'True':
            problems.append('%s: Degraded%s' % (name, _reason(degraded)))
        elif name in (wanted or []) and str(available.get('status')) != 'True':
            progressing = conditions.get('Progressing', {})
            if str(progressing.get('status')) == 'True':
                problems.append('%s: not Available, Progressing%s' % (name, _reason(progressing)))
            else:
                problems.append('%s: not Available%s' % (name, _reason(available)))
    return problems
