# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPAM report: pool and block utilisation, per node blocks and allocations, borrowed and
leaked addresses, blocks no new node can get. ``compute_report(state, warn, fail)`` is a pure
function of an ``model.IpamState``; its result is plain JSON-able data (see docs/ipam.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import ipaddress

from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model

DEFAULT_WARN_PERCENT = 80
DEFAULT_FAIL_PERCENT = 95


def percent(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def _pool_of(network, pools):
    """The pool containing ``network`` (most specific first), or None."""
    for pool in pools:
        if network.version == pool.cidr.version and network.subnet_of(pool.cidr):
            return pool
    return None


def threshold_status(value, warn, fail):
    """'ok', 'warn' or 'fail' for a utilisation percentage against the thresholds (None: not set)."""
    if fail is not None and value >= fail:
        return 'fail'
    if warn is not None and value >= warn:
        return 'warn'
    return 'ok'


def classify(state):
    """Every allocation of every block, as dicts: ip, block, block_node, node, handle, namespace,
    pod, type, borrowed (bool), in_use (True/False/None = unknown), leaked (bool)."""
    running = None
    used_ips = None
    if state.workloads is not None:
        running = set((w.namespace, w.name) for w in state.workloads if w.running)
        used_ips = set(ip for w in state.workloads if w.running for ip in w.ips)
    allocations = []
    for block in state.blocks:
        block_node = block.host
        cidr = str(block.cidr)
        base = int(block.cidr.network_address)
        version = block.cidr.version
        for ordinal, index in enumerate(block.allocations):
            if index is None:
                continue
            attr = block.attributes[index] if index < len(block.attributes) else {}
            secondary = attr.get('secondary') or {}
            handle = model.sanitize_handle(attr.get('handle_id'))
            node = secondary.get(model.ATTR_NODE) or ''
            namespace = secondary.get(model.ATTR_NAMESPACE) or ''
            pod = secondary.get(model.ATTR_POD) or ''
            kind = secondary.get(model.ATTR_TYPE) or ''
            ip = str(ipaddress.IPv4Address(base + ordinal) if version == 4 else ipaddress.IPv6Address(base + ordinal))
            in_use = None
            leaked = False
            if running is not None:
                if ip in used_ips:
                    in_use = True
                elif namespace and pod:
                    in_use = (namespace, pod) in running
                    leaked = not in_use
                elif kind in model.TUNNEL_TYPES and node and state.nodes is not None:
                    in_use = node in state.nodes
                    leaked = not in_use
            allocations.append({
                'ip': ip, 'block': cidr, 'block_node': block_node, 'node': node, 'handle': handle,
                'namespace': namespace, 'pod': pod, 'type': kind,
                'borrowed': bool(node) and node != block_node, 'in_use': in_use, 'leaked': leaked,
                'sequence_number': block.sequence_for_allocation.get(str(ordinal)),
            })
    return allocations


def compute_report(state, warn_percent=DEFAULT_WARN_PERCENT, fail_percent=DEFAULT_FAIL_PERCENT):
    pools = sorted(state.pools, key=lambda p: (-p.cidr.prefixlen, str(p.cidr)))
    allocations = classify(state)
    by_block = collections.defaultdict(int)
    for item in allocations:
        by_block[item['block']] += 1

    # -- pools ------------------------------------------------------------------------------
    pool_rows = collections.OrderedDict()
    for pool in sorted(state.pools, key=lambda p: p.name):
        bits = 32 if pool.cidr.version == 4 else 128
        block_addresses = 2 ** (bits - pool.block_size)
        pool_rows[pool.name] = {
            'name': pool.name, 'cidr': str(pool.cidr), 'block_size': pool.block_size,
            'disabled': pool.disabled, 'node_selector': pool.node_selector,
            'size': pool.cidr.num_addresses, 'allocated': 0, 'free': 0,
            'blocks_total': max(1, pool.cidr.num_addresses // block_addresses),
            'blocks_in_use': 0, 'free_blocks': 0, 'block_addresses': block_addresses,
        }
    outside = []  # blocks in no pool (the pool was deleted or changed)
    block_pool = {}
    for block in state.blocks:
        pool = _pool_of(block.cidr, pools)
        if pool is None:
            outside.append(block)
            continue
        block_pool[str(block.cidr)] = pool.name
        row = pool_rows[pool.name]
        row['blocks_in_use'] += 1
        row['allocated'] += by_block[str(block.cidr)]
    warnings, failures = [], []
    for row in pool_rows.values():
        row['free'] = row['size'] - row['allocated']
        row['free_blocks'] = max(0, row['blocks_total'] - row['blocks_in_use'])
        row['utilisation_percent'] = percent(row['allocated'], row['size'])
        row['block_utilisation_percent'] = percent(row['blocks_in_use'], row['blocks_total'])
        busiest = max(row['utilisation_percent'], row['block_utilisation_percent'])
        row['status'] = threshold_status(busiest, warn_percent, fail_percent)
        message = ('IP pool %s (%s): %d of %d addresses allocated (%.1f%%), %d of %d blocks claimed (%.1f%%), '
                   '%d free blocks' % (row['name'], row['cidr'], row['allocated'], row['size'],
                                       row['utilisation_percent'], row['blocks_in_use'], row['blocks_total'],
                                       row['block_utilisation_percent'], row['free_blocks']))
        if row['status'] == 'fail':
            failures.append(message + ' - at or above calico_ipam_fail_percent %s' % fail_percent)
        elif row['status'] == 'warn':
            warnings.append(message + ' - at or above calico_ipam_warn_percent %s' % warn_percent)

    # -- nodes ------------------------------------------------------------------------------
    nodes = collections.defaultdict(lambda: {'blocks': [], 'capacity': 0, 'allocated': 0, 'addresses': 0,
                                             'borrowed': 0, 'lent': 0})
    for name in state.nodes or ():
        nodes[name]  # every known node has a row, with or without blocks
    for block in state.blocks:
        if block.host:
            row = nodes[block.host]
            row['blocks'].append(str(block.cidr))
            row['capacity'] += block.size
            row['allocated'] += by_block[str(block.cidr)]
    for item in allocations:
        if item['node']:
            row = nodes[item['node']]
            row['addresses'] += 1
            if item['borrowed']:
                row['borrowed'] += 1
        if item['borrowed'] and item['block_node']:
            nodes[item['block_node']]['lent'] += 1
    node_rows = []
    for name in sorted(nodes):
        row = nodes[name]
        row['name'] = name
        row['exists'] = (name in state.nodes) if state.nodes is not None else None
        row['blocks'] = sorted(row['blocks'])
        row['block_count'] = len(row['blocks'])
        row['free'] = row['capacity'] - row['allocated']
        row['utilisation_percent'] = percent(row['allocated'], row['capacity'])
        node_rows.append(row)

    # -- borrowed, leaked, unclaimable ------------------------------------------------------
    borrowed = [_address_row(item) for item in allocations if item['borrowed']]
    leaked = [_address_row(item) for item in allocations if item['leaked']]
    leaked_by_handle = collections.OrderedDict()
    for item in leaked:
        if item['handle']:
            leaked_by_handle.setdefault(item['handle'], []).append(item)
    leaked_handles = []
    for handle_id, items in leaked_by_handle.items():
        handle = state.handles.get(handle_id)
        leaked_handles.append({'handle': handle_id, 'ips': [i['ip'] for i in items],
                               'namespace': items[0]['namespace'], 'pod': items[0]['pod'],
                               'blocks': dict(handle.blocks) if handle else {}})
    handles_in_blocks = set(item['handle'] for item in allocations if item['handle'])
    orphan_handles = sorted(h for h in state.handles if model.sanitize_handle(h) not in handles_in_blocks)

    affinities = collections.defaultdict(list)
    for affinity in state.affinities:
        affinities[str(affinity.cidr)].append(affinity)
    unclaimable = []
    for block in sorted(state.blocks, key=lambda b: (b.cidr.version, b.cidr)):
        cidr = str(block.cidr)
        reason = None
        if cidr not in block_pool:
            reason = 'in no IP pool (the pool was deleted or changed)'
        elif not block.host:
            reason = 'no affinity; %d addresses still allocated' % by_block[cidr] if by_block[cidr] else \
                'no affinity'
        elif state.nodes is not None and block.affinity_type == 'host' and block.host not in state.nodes:
            reason = 'affine to node %s, which does not exist' % block.host
        else:
            states = [a.state for a in affinities.get(cidr, []) if a.node == block.host]
            if states and states[0] != 'confirmed':
                reason = 'affinity of node %s is %s' % (block.host, states[0])
        if reason:
            unclaimable.append({'cidr': cidr, 'node': block.host, 'pool': block_pool.get(cidr, ''),
                                'allocated': by_block[cidr], 'reason': reason})
    for row in pool_rows.values():
        if row['disabled'] and row['free_blocks']:
            unclaimable.append({'cidr': row['cidr'], 'node': '', 'pool': row['name'], 'allocated': 0,
                                'reason': 'pool disabled: its %d free blocks are given to no node' % row['free_blocks']})

    if borrowed:
        warnings.append('%d borrowed addresses (allocated from a block affine to another node): routes to them '
                        'depend on the borrowing node advertising /32 routes' % len(borrowed))
    if leaked:
        warnings.append('%d leaked addresses in %d handles (their pods no longer exist): release them with '
                        'k8snet.calico.calico_ipam' % (len(leaked), len(leaked_handles)))
    if unclaimable:
        warnings.append('%d blocks cannot be given to a new node' % len(unclaimable))

    summary = {
        'datastore': state.datastore,
        'pools': len(pool_rows), 'blocks': len(state.blocks), 'nodes': len(node_rows),
        'allocated': len(allocations), 'borrowed': len(borrowed), 'leaked': len(leaked),
        'leaked_handles': len(leaked_handles), 'orphan_handles': len(orphan_handles),
        'unclaimable_blocks': len(unclaimable), 'leak_check': state.workloads is not None,
        'warn_percent': warn_percent, 'fail_percent': fail_percent,
        'status': 'fail' if failures else ('warn' if warnings else 'ok'),
    }
    return {
        'summary': summary,
        'pools': list(pool_rows.values()),
        'nodes': node_rows,
        'borrowed': borrowed,
        'leaked': leaked,
        'leaked_handles': leaked_handles,
        'orphan_handles': orphan_handles,
        'unclaimable_blocks': unclaimable,
        'warnings': warnings,
        'failures': failures,
    }


def _address_row(item):
    fields = ('ip', 'block', 'block_node', 'node', 'handle', 'namespace', 'pod', 'type')
    return dict((key, item[key]) for key in fields)
