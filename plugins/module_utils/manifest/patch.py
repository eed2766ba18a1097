# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a changed YAML document by editing only the lines that changed.

``patch_text(text, old, new)`` takes the text of one document, the data it parses to (``old``) and
the data it should parse to (``new``), and returns the text edited in place: changed scalars are
rewritten where they stand (in their original quoting), list items and mapping keys are deleted
or inserted as whole lines in the indentation of their neighbours, and everything else (comments,
quoting, flow lists, blank lines) stays as it was. The result is parsed again and must equal
``new``; if it does not, or an edit is of a kind not handled here, it returns None and the caller
writes the document from its data instead. So the edit is either exact or not used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import json

try:
    import yaml
except ImportError:  # pragma: no cover - the caller checks HAS_YAML
    yaml = None


class _Unsupported(Exception):
    pass


class _Patcher:
    def __init__(self, text, dump, dump_scalar):
        self.text = text
        self.dump = dump  # data -> block YAML text of inserted entries, ending with a newline
        self.dump_scalar = dump_scalar  # the same, for a scalar rewritten in place
        self.edits = []  # (start, end, replacement, sequence number)
        self.constructor = yaml.SafeLoader('')

    # -- positions -----------------------------------------------------------------------

    def line_start(self, index):
        return self.text.rfind('\n', 0, index) + 1

    def after_line(self, index):
        """Index just after the end of the line that holds ``index``."""
        end = self.text.find('\n', index)
        return len(self.text) if end < 0 else end + 1

    def node_end(self, node):
        """Index just after the last character of a node's content (marks of block collections
        run on to the next token, so they are computed from their leaves)."""
        if isinstance(node, yaml.ScalarNode):
            if node.style in ('|', '>'):
                span = self.text[node.start_mark.index:node.end_mark.index]
                return node.start_mark.index + len(span.rstrip())
            return node.end_mark.index
        if node.flow_style:
            return node.end_mark.index
        ends = [node.start_mark.index]
        if isinstance(node, (yaml.MappingNode, _Pair)):
            for key, value in node.value:
                ends.append(self.node_end(key))
                if not (isinstance(value, yaml.ScalarNode) and value.start_mark.index == value.end_mark.index):
                    ends.append(self.node_end(value))
        else:
            ends += [self.node_end(item) for item in node.value]
        return max(ends)

    def dash(self, item):
        """Index of the '-' that opens a block sequence item."""
        start = self.line_start(item.start_mark.index)
        position = self.text.rfind('-', start, item.start_mark.index + 1)
        if position < 0:
            raise _Unsupported('no dash')
        return position

    def column(self, index):
        return index - self.line_start(index)

    def indented(self, data, column):
        lines = self.dump(data).splitlines(True)
        return ''.join((' ' * column + line) if line.strip() else line for line in lines)

    # -- edits ---------------------------------------------------------------------------

    def edit(self, start, end, text):
        self.edits.append((start, end, text, len(self.edits)))

    def delete_lines(self, first, node):
        self.edit(self.line_start(first), self.after_line(self.node_end(node) - 1), '')

    def insert(self, index, text):
        self.edit(index, index, text)

    def scalar(self, node, value):
        """Text for ``value`` in place of scalar ``node``, in the node's quoting; None if the
        value cannot stand inline (the caller then rewrites the whole entry)."""
        if isinstance(value, str):
            if node.style == '"':
                return json.dumps(value)
            if node.style == "'" and '\n' not in value:
                return "'%s'" % value.replace("'", "''")
            if node.style == '|' and '\n' in value:
                return self.block_scalar(node, value)
        if isinstance(value, (dict, list)):
            return None
        text = self.dump_scalar({'k': value})
        if not text.startswith('k: ') or text.count('\n') != 1:
            return None
        return text[3:-1]

    def block_scalar(self, node, value):
        span = self.text[node.start_mark.index:node.end_mark.index]
        lines = span.split('\n')
        content = [line for line in lines[1:] if line.strip()]
        if not content:
            return None
        indent = len(content[0]) - len(content[0].lstrip(' '))
        if value.endswith('\n\n'):
            return None
        chomp, body = ('', value[:-1]) if value.endswith('\n') else ('-', value)
        body_lines = body.split('\n')
        if not body_lines[0] or body_lines[0][0] in ' \t':
            return None
        return '|%s\n%s' % (chomp, '\n'.join((' ' * indent + line) if line else '' for line in body_lines))

    # -- walk ----------------------------------------------------------------------------

    def walk(self, node, old, new, replace_entry):
        """Edit ``node`` (which parses to ``old``) to parse to ``new``. ``replace_entry(value)``
        rewrites the whole entry (key and value, or list item) that holds the node."""
        if old == new and type(old) is type(new):
            return
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value \
                and isinstance(old, dict) and isinstance(new, dict):
            return self.mapping(node, old, new)
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value \
                and isinstance(old, list) and isinstance(new, list):
            return self.sequence(node, old, new)
        if isinstance(node, yaml.ScalarNode) and not isinstance(new, (dict, list)) \
                and node.start_mark.index != node.end_mark.index:
            text = self.scalar(node, new)
            if text is not None:
                end = self.node_end(node) if node.style in ('|', '>') else node.end_mark.index
                self.edit(node.start_mark.index, end, text)
                return
        replace_entry(new)

    def mapping(self, node, old, new):
        pairs = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Unsupported('complex key')
            key = self.constructor.construct_object(key_node, deep=True)
            pairs.append((key, key_node, value_node))
        keys = [key for key, _k, _v in pairs]
        if len(set(keys)) != len(keys) or set(keys) != set(old):
            raise _Unsupported('keys')
        kept = None
        for key, key_node, value_node in pairs:
            if key not in new:
                self.delete_lines(key_node.start_mark.index, _Pair(key_node, value_node))
                continue
            kept = (key_node, value_node)
            self.walk(value_node, old[key], new[key], self.pair_replacer(key, key_node, value_node))
        added = [key for key in new if key not in old]
        if not added:
            return
        column = self.column(pairs[0][1].start_mark.index)
        if kept is not None:
            where = self.after_line(self.node_end(_Pair(*kept)) - 1)
        else:
            where = self.line_start(pairs[0][1].start_mark.index)
        self.insert(where, self.indented(dict((key, new[key]) for key in added), column))

    def pair_replacer(self, key, key_node, value_node):
        def replace(value):
            start = self.line_start(key_node.start_mark.index)
            if start != key_node.start_mark.index and self.text[start:key_node.start_mark.index].strip():
                raise _Unsupported('key not first on its line')
            column = self.column(key_node.start_mark.index)
            self.edit(start, self.after_line(self.node_end(_Pair(key_node, value_node)) - 1),
                      self.indented({key: value}, column))
        return replace

    def item_replacer(self, item):
        def replace(value):
            dash = self.dash(item)
            if self.text[self.line_start(dash):dash].strip():
                raise _Unsupported('item not first on its line')
            self.edit(self.line_start(dash), self.after_line(self.node_end(item) - 1),
                      self.indented([value], self.column(dash)))
        return replace

    def sequence(self, node, old, new):
        items = node.value
        if len(items) != len(old):
            raise _Unsupported('items')
        old_names, new_names = _names(old), _names(new)
        if old_names is not None and new_names is not None:
            common_old = [name for name in old_names if name in new_names]
            common_new = [name for name in new_names if name in old_names]
            if common_old != common_new:
                raise _Unsupported('reordered')
            position = dict((name, number) for number, name in enumerate(old_names))
            for number, name in enumerate(old_names):
                if name not in new_names:
                    self.delete_lines(self.dash(items[number]), items[number])
                else:
                    self.walk(items[number], old[number], new[new_names.index(name)],
                              self.item_replacer(items[number]))
            previous = None
            for number, name in enumerate(new_names):
                if name in position:
                    previous = position[name]
                    continue
                self.insert_item(items, previous, new[number])
            return
        matcher = difflib.SequenceMatcher(None, [_key(item) for item in old], [_key(item) for item in new],
                                          autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == 'equal':
                continue
            if tag == 'replace' and i2 - i1 == j2 - j1:
                for offset in range(i2 - i1):
                    self.walk(items[i1 + offset], old[i1 + offset], new[j1 + offset],
                              self.item_replacer(items[i1 + offset]))
                continue
            for number in range(i1, i2):
                self.delete_lines(self.dash(items[number]), items[number])
            for number in range(j1, j2):
                self.insert_item(items, i1 - 1 if i1 > 0 else None, new[number])

    def insert_item(self, items, after, value):
        if after is None:
            dash = self.dash(items[0])
            self.insert(self.line_start(dash), self.indented([value], self.column(dash)))
        else:
            dash = self.dash(items[after])
            self.insert(self.after_line(self.node_end(items[after]) - 1),
                        self.indented([value], self.column(dash)))

    def apply(self):
        # From the end of the text backwards; at one position a deletion first, then the
        # insertions, the last made first, so that they end up in the order they were made.
        edits = sorted(self.edits, key=lambda edit: (edit[0], 1 if edit[1] > edit[0] else 0, edit[3]),
                       reverse=True)
        text = self.text
        limit = len(text) + 1
        for start, end, replacement, _number in edits:
            if end > limit:
                raise _Unsupported('overlapping edits')
            text = text[:start] + replacement + text[end:]
            limit = start
        return text


class _Pair:
    """A key and its value, as one node for node_end()."""

    def __init__(self, key_node, value_node):
        self.value = [(key_node, value_node)]
        self.start_mark = key_node.start_mark
        self.flow_style = False


def _names(items):
    names = [item.get('name') if isinstance(item, dict) else None for item in items]
    if not items or None in names or len(set(names)) != len(names):
        return None
    return names


def _key(item):
    return json.dumps(item, sort_keys=True, default=str)


def patch_text(text, old, new, load, dump, dump_scalar=None):
    """``text`` edited to parse (with ``load``) to ``new``, or None. ``dump`` writes data as
    block YAML for inserted entries, ``dump_scalar`` (default ``dump``) for a scalar rewritten in
    place without quotes."""
    if yaml is None:
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if root is None:
        return None
    patcher = _Patcher(text, dump, dump_scalar or dump)
    try:
        patcher.walk(root, old, new, _refuse)
        result = patcher.apply()
    except _Unsupported:
        return None
    try:
        if load(result) != new:
            return None
    except yaml.YAMLError:
        return None
    return result


def _refuse(value):
    raise _Unsupported('root')
