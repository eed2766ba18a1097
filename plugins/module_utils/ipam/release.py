# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Releasing IPAM addresses as libcalico-go's ``ipamClient.ReleaseIPs`` does (calicoctl
``ipam release``), block by block:

1. in the block: each address's ordinal; a sequence number or handle given with the address must
   match the stored allocation (else the whole block's request is a conflict); attributes whose
   last reference goes are removed and the remaining indexes renumbered; the ordinal's
   allocation is set to null, appended to ``unallocated``, and its ``sequenceNumberForAllocation``
   entry removed;
2. the block is written with ``sequenceNumber`` + 1, presenting the version read; when it is then
   empty and has no affinity it is deleted instead; on a conflict it is read again and the
   release redone (up to ``RETRIES`` times);
3. each handle's count for the block is decreased by the number of its addresses released; a
   handle left with no block is deleted, else updated; conflicts are retried likewise.

``plan`` selects and checks the whole batch first (nothing written when anything is wrong);
``execute`` performs it, or in check mode only computes what it would write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import ipaddress

from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import Conflict, NotFound
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model, report

RETRIES = 100  # libcalico-go datastoreRetries


class ReleaseError(Exception):
    """The batch cannot be released (named address and reason); nothing was written."""


class ReleaseConflict(Exception):
    """A sequence number or handle no longer matches the stored allocation."""


def release_in_block(block, options):
    """libcalico-go allocationBlock.release on ``block`` (changed in place). ``options``: dicts with
    ``ip`` and optional ``handle`` and ``sequence_number``. Returns (unallocated ips, {handle:
    count}, released ips)."""
    unique = collections.OrderedDict((str(ipaddress.ip_address(o['ip'])), o) for o in options)
    unallocated, ordinals, released = [], [], []
    delete_refs = collections.Counter()
    by_handle = collections.Counter()
    for ip, opts in unique.items():
        ordinal = block.ordinal(ipaddress.ip_address(ip))
        expected = block.sequence_for_allocation.get(str(ordinal), 0)
        if opts.get('sequence_number') is not None and int(opts['sequence_number']) != int(expected):
            raise ReleaseConflict('%s: sequence number %s given, the block holds %s (reallocated since)'
                                  % (ip, opts['sequence_number'], expected))
        index = block.allocations[ordinal]
        if index is None:
            unallocated.append(ip)
            continue
        ordinals.append(ordinal)
        released.append(ip)
        handle = model.sanitize_handle(block.attributes[index].get('handle_id') or '')
        if opts.get('handle') and handle != opts['handle']:
            raise ReleaseConflict('%s: handle %s given, the block holds %s (reallocated since)'
                                  % (ip, opts['handle'], handle))
        delete_refs[index] += 1
        if handle:
            by_handle[handle] += 1
    references = collections.Counter(i for i in block.allocations if i is not None)
    drop = set(index for index, count in delete_refs.items() if references[index] == count)
    if drop:
        renumber, kept = {}, []
        for index, attr in enumerate(block.attributes):
            if index not in drop:
                renumber[index] = len(kept)
                kept.append(attr)
        block.attributes = kept
        block.allocations = [None if i is None else renumber.get(i) for i in block.allocations]
    for ordinal in ordinals:
        block.allocations[ordinal] = None
        block.unallocated.append(ordinal)
        block.sequence_for_allocation.pop(str(ordinal), None)
    return unallocated, dict(by_handle), released


def decrement_handle(handle, cidr, count):
    """libcalico-go allocationHandle.decrementBlock (in place); True when the handle is now empty."""
    key = str(cidr)
    if key not in handle.blocks:
        raise ReleaseError('handle %s has no count for block %s' % (handle.handle_id, key))
    left = int(handle.blocks[key]) - count
    if left < 0:
        raise ReleaseError('handle %s has only %s addresses in block %s, %d released'
                           % (handle.handle_id, handle.blocks[key], key, count))
    if left == 0:
        del handle.blocks[key]
    else:
        handle.blocks[key] = left
    return not handle.blocks


def plan(state, ips=None, leaked=False):
    """What to release: ``{'options': [{ip, handle, sequence_number, block}], 'unallocated': [ip]}``.
    Raises ``ReleaseError`` naming every address in use by a running workload, every address not
    understood, before anything is written."""
    allocations = dict((a['ip'], a) for a in report.classify(state))
    options, unallocated, problems = [], [], []
    if leaked and state.workloads is None:
        raise ReleaseError('cannot tell leaked addresses: the workloads (pods) could not be read')
    for text in ips or []:
        try:
            ip = str(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            problems.append('ips: %r is not an IP address' % (text,))
            continue
        found = allocations.get(ip)
        if found is None:
            unallocated.append(ip)
            continue
        if found['in_use']:
            problems.append('ips: %s is in use by %s - not released' % (ip, _owner(found, state)))
            continue
        options.append(_option(found))
    if leaked:
        chosen = set(o['ip'] for o in options)
        for item in allocations.values():
            if item['leaked'] and item['ip'] not in chosen:
                options.append(_option(item))
    if problems:
        raise ReleaseError('; '.join(problems))
    return {'options': options, 'unallocated': unallocated}


def _owner(item, state):
    if item['namespace'] and item['pod']:
        return 'pod %s/%s' % (item['namespace'], item['pod'])
    for workload in state.workloads or ():
        if workload.running and item['ip'] in workload.ips:
            return 'pod %s/%s' % (workload.namespace, workload.name)
    return 'node %s' % item['node']


def _option(item):
    return {'ip': item['ip'], 'handle': item['handle'] or None, 'sequence_number': item['sequence_number'],
            'block': item['block']}


def execute(ipam, state, chosen, check_mode=False):
    """Releases ``chosen['options']`` block by block. Returns {released, unallocated, blocks,
    handles}: ``blocks``/``handles`` are lists of {name, action (updated|deleted), before, after}."""
    result = {'released': [], 'unallocated': list(chosen['unallocated']), 'blocks': [], 'handles': []}
    blocks = dict((str(b.cidr), b) for b in state.blocks)
    grouped = collections.OrderedDict()
    for option in chosen['options']:
        grouped.setdefault(option['block'], []).append(option)
    for cidr, options in grouped.items():
        for _attempt in range(RETRIES):
            current = ipam.get_block(blocks[cidr]) if not check_mode else blocks[cidr]
            if current is None:
                result['unallocated'].extend(o['ip'] for o in options)
                break
            block = current.copy()
            try:
                unallocated, by_handle, released = release_in_block(block, options)
            except ReleaseConflict as exc:
                raise ReleaseError(str(exc))
            result['unallocated'].extend(unallocated)
            if not released:
                break
            delete = block.empty() and not block.affinity
            if not delete:
                block.sequence_number += 1
            if not check_mode:
                try:
                    ipam.delete_block(block) if delete else ipam.update_block(block)
                except Conflict:
                    continue
                except NotFound:
                    continue
            result['released'].extend(released)
            result['blocks'].append({'name': cidr, 'action': 'deleted' if delete else 'updated',
                                     'before': _block_view(current), 'after': None if delete else _block_view(block)})
            for handle_id, count in sorted(by_handle.items()):
                result['handles'].append(_decrement(ipam, state, handle_id, current.cidr, count, check_mode))
            break
        else:
            raise ReleaseError('block %s: max retries hit, excessive concurrent IPAM requests' % cidr)
    return result


def _decrement(ipam, state, handle_id, cidr, count, check_mode):
    for _attempt in range(RETRIES):
        current = state.handles.get(handle_id) if check_mode else ipam.get_handle(handle_id)
        if current is None:
            return {'name': handle_id, 'action': 'missing', 'before': None, 'after': None}
        handle = current.copy()
        empty = decrement_handle(handle, cidr, count)
        if not check_mode:
            try:
                ipam.delete_handle(handle) if empty else ipam.update_handle(handle)
            except Conflict:
                continue
            except NotFound:
                if empty:
                    return {'name': handle_id, 'action': 'deleted', 'before': dict(current.blocks), 'after': None}
                continue
        return {'name': handle_id, 'action': 'deleted' if empty else 'updated',
                'before': dict(current.blocks), 'after': None if empty else dict(handle.blocks)}
    raise ReleaseError('handle %s: max retries hit, excessive concurrent IPAM requests' % handle_id)


def _block_view(block):
    return {'cidr': str(block.cidr), 'affinity': block.affinity, 'allocated': block.allocated_count(),
            'sequenceNumber': block.sequence_number}
