# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Preflight checks on what the cluster reports: workloads ready, IP addresses left in the pools."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


def workload_ready(obj):
    """(ready, text) of a live DaemonSet or Deployment: every pod it wants runs its spec and is ready."""
    kind = obj.get('kind')
    name = '%s %s/%s' % (kind, (obj.get('metadata') or {}).get('namespace', ''), (obj.get('metadata') or {}).get('name'))
    status = obj.get('status') or {}
    if kind == 'DaemonSet':
        wanted = status.get('desiredNumberScheduled', 0)
        counts = dict(updated=status.get('updatedNumberScheduled', 0), ready=status.get('numberReady', 0),
                      available=status.get('numberAvailable', 0))
    else:
        wanted = (obj.get('spec') or {}).get('replicas', 1)
        counts = dict(updated=status.get('updatedReplicas', 0), ready=status.get('readyReplicas', 0),
                      available=status.get('availableReplicas', 0))
    observed = status.get('observedGeneration', 0) >= (obj.get('metadata') or {}).get('generation', 1)
    ready = observed and all(value == wanted for value in counts.values())
    text = '%s: %s of %d wanted' % (name, ', '.join('%s %d' % (k, counts[k]) for k in ('updated', 'ready', 'available')),
                                    wanted)
    return ready, text + ('' if observed else ' (the controller has not seen its latest spec)')


def ipam_capacity(pools, blocks):
    """Free IPv4/IPv6 addresses in the enabled IP pools: a dict per pool (name, cidr, block_size,
    blocks_total, blocks_allocated, addresses_free) and the total, from the pools
    (projectcalico.org/v3 IPPool) and the allocation blocks (crd.projectcalico.org/v1 IPAMBlock,
    spec.cidr and spec.allocations: one entry per address, null when free).

    A block that no pool contains is not counted. Addresses of free blocks count as free."""
    result = []
    total_free = 0
    parsed_blocks = []
    for block in blocks or ():
        spec = block.get('spec') or {}
        try:
            network = ipaddress.ip_network(spec.get('cidr', ''), strict=False)
        except ValueError:
            continue
        allocations = spec.get('allocations')
        if isinstance(allocations, list):
            free = sum(1 for entry in allocations if entry is None)
        else:
            free = network.num_addresses
        parsed_blocks.append((network, free))
    for pool in pools or ():
        spec = pool.get('spec') or {}
        name = (pool.get('metadata') or {}).get('name')
        try:
            network = ipaddress.ip_network(spec.get('cidr', ''), strict=False)
        except ValueError:
            continue
        block_size = int(spec.get('blockSize') or (26 if network.version == 4 else 122))
        total_blocks = 2 ** max(block_size - network.prefixlen, 0)
        inside = [(b, free) for b, free in parsed_blocks if b.version == network.version and b.subnet_of(network)]
        free_in_blocks = sum(free for _b, free in inside)
        free = free_in_blocks + max(total_blocks - len(inside), 0) * (2 ** (network.max_prefixlen - block_size))
        entry = dict(name=name, cidr=str(network), block_size=block_size, blocks_total=total_blocks,
                     blocks_allocated=len(inside), addresses_free=free, disabled=bool(spec.get('disabled')))
        if not entry['disabled']:
            total_free += free
        result.append(entry)
    return result, total_free
