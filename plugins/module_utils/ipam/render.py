# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPAM report as a console table, CSV files, JSON and a self-contained HTML page (inline
CSS and SVG bar charts, no script)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import json

from ansible_collections.k8snet.calico.plugins.module_utils.ipam.report import threshold_status

# Bar colours of the HTML charts, by status (documented in docs/ipam.md).
COLOURS = {'ok': '#2a6fdb', 'warn': '#f0a202', 'fail': '#d62828', 'track': '#e6e9ef'}
NODE_CHART_LIMIT = 60  # nodes drawn in the per-node chart (the most utilised first)


def _table(headers, rows):
    widths = [len(h) for h in headers]
    text_rows = [[str(cell) for cell in row] for row in rows]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = '  '.join('%-*s' % (w, h) for w, h in zip(widths, headers)).rstrip()
    out = [line, '  '.join('-' * w for w in widths)]
    out.extend('  '.join('%-*s' % (w, c) for w, c in zip(widths, row)).rstrip() for row in text_rows)
    return out


def table(report, node_limit=20):
    """Readable text for the console."""
    s = report['summary']
    lines = ['Calico IPAM (%s datastore): %d pools, %d blocks, %d nodes, %d allocated, %d borrowed, %d leaked '
             '(%d handles), %d blocks unclaimable - %s'
             % (s['datastore'], s['pools'], s['blocks'], s['nodes'], s['allocated'], s['borrowed'], s['leaked'],
                s['leaked_handles'], s['unclaimable_blocks'], s['status'].upper()), '']
    lines.extend(_table(['POOL', 'CIDR', 'SIZE', 'ALLOCATED', 'FREE', 'USED%', 'BLOCKS', 'FREE BLOCKS', 'BLOCKS%',
                         'STATUS'],
                        [[p['name'], p['cidr'], p['size'], p['allocated'], p['free'], p['utilisation_percent'],
                          '%d/%d' % (p['blocks_in_use'], p['blocks_total']), p['free_blocks'],
                          p['block_utilisation_percent'], p['status']] for p in report['pools']]))
    nodes = sorted(report['nodes'], key=lambda n: (-n['utilisation_percent'], n['name']))
    lines.append('')
    lines.extend(_table(['NODE', 'BLOCKS', 'CAPACITY', 'ALLOCATED', 'USED%', 'ADDRESSES', 'BORROWED', 'LENT'],
                        [[n['name'] + ('' if n['exists'] in (True, None) else ' (gone)'), n['block_count'],
                          n['capacity'], n['allocated'], n['utilisation_percent'], n['addresses'], n['borrowed'],
                          n['lent']] for n in nodes[:node_limit]]))
    if len(nodes) > node_limit:
        lines.append('... %d more nodes in the CSV and JSON files' % (len(nodes) - node_limit))
    for title, rows in (('BORROWED', report['borrowed']), ('LEAKED', report['leaked'])):
        if rows:
            lines.append('')
            lines.extend(_table([title + ' IP', 'BLOCK', 'BLOCK NODE', 'NODE', 'NAMESPACE/POD', 'HANDLE'],
                                [[r['ip'], r['block'], r['block_node'] or '-', r['node'] or '-',
                                  '%s/%s' % (r['namespace'], r['pod']) if r['pod'] else '-', r['handle'] or '-']
                                 for r in rows[:50]]))
            if len(rows) > 50:
                lines.append('... %d more in the CSV and JSON files' % (len(rows) - 50))
    if report['unclaimable_blocks']:
        lines.append('')
        lines.extend(_table(['UNCLAIMABLE BLOCK', 'POOL', 'NODE', 'ALLOCATED', 'REASON'],
                            [[b['cidr'], b['pool'] or '-', b['node'] or '-', b['allocated'], b['reason']]
                             for b in report['unclaimable_blocks']]))
    for word, messages in (('WARNING', report['warnings']), ('FAILURE', report['failures'])):
        for message in messages:
            lines.append('%s: %s' % (word, message))
    return '\n'.join(lines) + '\n'


def _csv(headers, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue()


POOL_FIELDS = ('name', 'cidr', 'block_size', 'disabled', 'size', 'allocated', 'free', 'utilisation_percent',
               'blocks_total', 'blocks_in_use', 'free_blocks', 'block_utilisation_percent', 'status')
NODE_FIELDS = ('name', 'exists', 'block_count', 'capacity', 'allocated', 'free', 'utilisation_percent',
               'addresses', 'borrowed', 'lent')
ADDRESS_FIELDS = ('kind', 'ip', 'block', 'block_node', 'node', 'namespace', 'pod', 'handle', 'type')


def csv_files(report):
    """{file name: CSV text}: pools, nodes, and the borrowed and leaked addresses."""
    addresses = [['borrowed'] + [r[f] for f in ADDRESS_FIELDS[1:]] for r in report['borrowed']]
    addresses += [['leaked'] + [r[f] for f in ADDRESS_FIELDS[1:]] for r in report['leaked']]
    return {
        'ipam-pools.csv': _csv(POOL_FIELDS, [[p[f] for f in POOL_FIELDS] for p in report['pools']]),
        'ipam-nodes.csv': _csv(NODE_FIELDS + ('blocks',),
                               [[n[f] for f in NODE_FIELDS] + [' '.join(n['blocks'])] for n in report['nodes']]),
        'ipam-addresses.csv': _csv(ADDRESS_FIELDS, addresses),
        'ipam-unclaimable-blocks.csv': _csv(('cidr', 'pool', 'node', 'allocated', 'reason'),
                                            [[b['cidr'], b['pool'], b['node'], b['allocated'], b['reason']]
                                             for b in report['unclaimable_blocks']]),
    }


def json_text(report):
    return json.dumps(report, indent=2, sort_keys=True) + '\n'


def _esc(text):
    return (str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;'))


def bar_chart(rows, css_id, warn, fail, width=880):
    """An inline SVG: one horizontal bar per row (label, percent, detail), coloured by status."""
    label_w, bar_w, row_h = 200, 370, 26
    height = row_h * len(rows) + 10
    parts = ['<svg id="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">'
             % (css_id, width, height)]
    for number, (label, value, detail) in enumerate(rows):
        y = 5 + number * row_h
        filled = int(round(bar_w * min(value, 100.0) / 100.0))
        colour = COLOURS[threshold_status(value, warn, fail)]
        parts.append('<text x="0" y="%d" font-size="13" font-family="sans-serif">%s</text>'
                     % (y + 16, _esc(label[:28])))
        parts.append('<rect x="%d" y="%d" width="%d" height="18" fill="%s"/>'
                     % (label_w, y + 2, bar_w, COLOURS['track']))
        if filled:
            parts.append('<rect class="bar" x="%d" y="%d" width="%d" height="18" fill="%s"><title>%s</title></rect>'
                         % (label_w, y + 2, filled, colour, _esc(detail)))
        parts.append('<text x="%d" y="%d" font-size="12" font-family="sans-serif">%.1f%% %s</text>'
                     % (label_w + bar_w + 8, y + 16, value, _esc(detail)))
    parts.append('</svg>')
    return ''.join(parts)


def html(report, title='Calico IPAM report'):
    s = report['summary']
    warn, fail = s['warn_percent'], s['fail_percent']
    pools = [(p['name'], max(p['utilisation_percent'], p['block_utilisation_percent']),
              '%d/%d IPs, %d/%d blocks' % (p['allocated'], p['size'], p['blocks_in_use'], p['blocks_total']))
             for p in report['pools']]
    nodes = sorted(report['nodes'], key=lambda n: (-n['utilisation_percent'], n['name']))
    node_rows = [(n['name'], n['utilisation_percent'],
                  '%d/%d IPs, %d borrowed' % (n['allocated'], n['capacity'], n['borrowed']))
                 for n in nodes[:NODE_CHART_LIMIT]]
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%s</title>' % _esc(title),
           '<style>body{font-family:sans-serif;margin:24px;color:#1d2433}h1{font-size:22px}'
           'h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}'
           'td,th{border:1px solid #cfd6e0;padding:3px 8px;text-align:left}.warn{color:#9a6700}'
           '.fail{color:#d62828;font-weight:bold}.legend span{display:inline-block;width:12px;height:12px;'
           'margin:0 4px 0 12px}</style></head><body>',
           '<h1>%s</h1>' % _esc(title),
           '<p>Datastore %s: %d pools, %d blocks, %d nodes, %d allocated, %d borrowed, %d leaked (%d handles), '
           '%d blocks unclaimable. Status <b class="%s">%s</b>.</p>'
           % (_esc(s['datastore']), s['pools'], s['blocks'], s['nodes'], s['allocated'], s['borrowed'], s['leaked'],
              s['leaked_handles'], s['unclaimable_blocks'], s['status'], s['status'].upper()),
           '<p class="legend">Bars:<span style="background:%s"></span>below %s%%<span style="background:%s"></span>'
           'from %s%%<span style="background:%s"></span>from %s%%</p>'
           % (COLOURS['ok'], warn, COLOURS['warn'], warn, COLOURS['fail'], fail)]
    out.append('<h2>Utilisation per pool (addresses or blocks, the higher)</h2>')
    out.append(bar_chart(pools, 'pools-chart', warn, fail))
    out.append('<h2>Utilisation per node (its affine blocks)%s</h2>'
               % (' - the %d most utilised of %d' % (NODE_CHART_LIMIT, len(nodes)) if len(nodes) > NODE_CHART_LIMIT
                  else ''))
    out.append(bar_chart(node_rows, 'nodes-chart', warn, fail))
    for word, css, messages in (('Failures', 'fail', report['failures']), ('Warnings', 'warn', report['warnings'])):
        if messages:
            items = ''.join('<li class="%s">%s</li>' % (css, _esc(m)) for m in messages)
            out.append('<h2>%s</h2><ul>%s</ul>' % (word, items))
    for name, rows in (('Borrowed addresses', report['borrowed']), ('Leaked addresses', report['leaked'])):
        if rows:
            out.append('<h2>%s (%d)</h2><table><tr><th>IP</th><th>block</th><th>block node</th><th>node</th>'
                       '<th>pod</th><th>handle</th></tr>' % (name, len(rows)))
            for r in rows[:500]:
                out.append('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                           % tuple(_esc(x) for x in (r['ip'], r['block'], r['block_node'], r['node'],
                                                     '%s/%s' % (r['namespace'], r['pod']) if r['pod'] else '',
                                                     r['handle'])))
            out.append('</table>')
    if report['unclaimable_blocks']:
        out.append('<h2>Blocks no new node can get</h2><table><tr><th>block</th><th>pool</th><th>node</th>'
                   '<th>reason</th></tr>')
        for b in report['unclaimable_blocks']:
            out.append('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                       % tuple(_esc(x) for x in (b['cidr'], b['pool'], b['node'], b['reason'])))
        out.append('</table>')
    out.append('</body></html>\n')
    return '\n'.join(out)
