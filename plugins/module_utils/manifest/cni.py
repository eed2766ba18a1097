# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CNI network configuration template of the ``calico-config`` ConfigMap.

``cni_network_config`` is the conflist that Calico's install-cni container writes on every node,
after replacing the placeholders in it. Some placeholders stand unquoted where a number goes
(``"mtu": __CNI_MTU__``), so the template is not JSON. This module reads it with a small JSON
parser that also takes such placeholders as values, and records where every value starts and
ends, so that a plugin is added or removed by editing only those bytes: the rest of the template
stays exactly as upstream wrote it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

_PLACEHOLDER = re.compile(r'__[A-Za-z0-9_]+__')
_NUMBER = re.compile(r'-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')
_WHITESPACE = ' \t\r\n'

BANDWIDTH_PLUGIN = {'type': 'bandwidth', 'capabilities': {'bandwidth': True}}


class TemplateError(ValueError):
    """The template cannot be read, or lacks the structure a change needs."""


class Node:
    """A value of the template: kind ('object', 'array', 'string', 'number', 'literal',
    'placeholder'), its span [start, end) in the text, and its content."""

    __slots__ = ('kind', 'start', 'end', 'value', 'items')

    def __init__(self, kind, start, end=None, value=None, items=None):
        self.kind = kind
        self.start = start
        self.end = end
        self.value = value
        self.items = items

    def get(self, key):
        """For an object: the value node of ``key`` (the last one if repeated), or None."""
        found = None
        for name, node in self.items or ():
            if name == key:
                found = node
        return found

    def to_python(self):
        if self.kind == 'object':
            return dict((name, node.to_python()) for name, node in self.items)
        if self.kind == 'array':
            return [node.to_python() for node in self.items]
        return self.value


class _Parser:
    def __init__(self, text):
        self.text = text

    def fail(self, pos, what):
        line = self.text.count('\n', 0, pos) + 1
        column = pos - (self.text.rfind('\n', 0, pos) + 1) + 1
        raise TemplateError('%s at line %d column %d of the CNI network configuration' % (what, line, column))

    def skip(self, pos):
        while pos < len(self.text) and self.text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def value(self, pos):
        pos = self.skip(pos)
        if pos >= len(self.text):
            self.fail(pos, 'unexpected end')
        char = self.text[pos]
        if char == '{':
            return self.obj(pos)
        if char == '[':
            return self.array(pos)
        if char == '"':
            value, end = self.string(pos)
            return Node('string', pos, end, value)
        match = _PLACEHOLDER.match(self.text, pos)
        if match:
            return Node('placeholder', pos, match.end(), match.group(0))
        for word, value in (('true', True), ('false', False), ('null', None)):
            if self.text.startswith(word, pos):
                return Node('literal', pos, pos + len(word), value)
        match = _NUMBER.match(self.text, pos)
        if match:
            return Node('number', pos, match.end(), json.loads(match.group(0)))
        self.fail(pos, 'unexpected character %r' % char)

    def string(self, pos):
        try:
            return json.decoder.scanstring(self.text, pos + 1)
        except ValueError:
            self.fail(pos, 'unterminated or invalid string')

    def obj(self, pos):
        node = Node('object', pos, items=[])
        pos = self.skip(pos + 1)
        if self.text.startswith('}', pos):
            node.end = pos + 1
            return node
        while True:
            pos = self.skip(pos)
            if not self.text.startswith('"', pos):
                self.fail(pos, 'expected a key')
            key, pos = self.string(pos)
            pos = self.skip(pos)
            if not self.text.startswith(':', pos):
                self.fail(pos, "expected ':'")
            child = self.value(pos + 1)
            node.items.append((key, child))
            pos = self.skip(child.end)
            if self.text.startswith(',', pos):
                pos += 1
                continue
            if self.text.startswith('}', pos):
                node.end = pos + 1
                return node
            self.fail(pos, "expected ',' or '}'")

    def array(self, pos):
        node = Node('array', pos, items=[])
        pos = self.skip(pos + 1)
        if self.text.startswith(']', pos):
            node.end = pos + 1
            return node
        while True:
            child = self.value(pos)
            node.items.append(child)
            pos = self.skip(child.end)
            if self.text.startswith(',', pos):
                pos += 1
                continue
            if self.text.startswith(']', pos):
                node.end = pos + 1
                return node
            self.fail(pos, "expected ',' or ']'")


def parse(text):
    """The root node of a template; raises TemplateError if it is not JSON with placeholders."""
    parser = _Parser(text)
    root = parser.value(0)
    rest = parser.skip(root.end)
    if rest != len(text):
        parser.fail(rest, 'unexpected text after the configuration')
    return root


def placeholders(text):
    """The placeholders of a template, in order of appearance (quoted ones included)."""
    return _PLACEHOLDER.findall(text)


def plugins(text):
    """The node of the ``plugins`` list of a conflist template."""
    root = parse(text)
    if root.kind != 'object':
        raise TemplateError('the CNI network configuration is not an object')
    node = root.get('plugins')
    if node is None or node.kind != 'array':
        raise TemplateError("the CNI network configuration has no 'plugins' list (not a conflist)")
    return node


def plugin_types(text):
    """The ``type`` of every plugin of the conflist, in order."""
    result = []
    for item in plugins(text).items:
        kind = item.get('type') if item.kind == 'object' else None
        result.append(kind.value if kind is not None else None)
    return result


def _line_indent(text, pos):
    start = text.rfind('\n', 0, pos) + 1
    indent = start
    while indent < len(text) and text[indent] in ' \t':
        indent += 1
    return text[start:indent]


def _format_plugin(plugin, indent):
    """A plugin object as upstream writes them: one key a line, nested values inline."""
    step = '  '
    lines = ['{']
    keys = list(plugin)
    for number, key in enumerate(keys):
        comma = ',' if number < len(keys) - 1 else ''
        value = json.dumps(plugin[key], separators=(', ', ': '))
        lines.append('%s%s%s: %s%s' % (indent, step, json.dumps(key), value, comma))
    lines.append(indent + '}')
    return '\n'.join(lines)


def add_plugin(text, plugin):
    """The template with ``plugin`` (a dict with a 'type') appended to its plugin chain, written
    in the indentation of the plugin before it. Unchanged if a plugin of that type is there."""
    if plugin['type'] in plugin_types(text):
        return text
    array = plugins(text)
    if array.items:
        last = array.items[-1]
        indent = _line_indent(text, last.start)
        insert = ',\n' + indent + _format_plugin(plugin, indent)
        result = text[:last.end] + insert + text[last.end:]
    else:
        outer = _line_indent(text, array.start)
        indent = outer + '  '
        inner = '\n' + indent + _format_plugin(plugin, indent) + '\n' + outer
        result = text[:array.start + 1] + inner + text[array.end - 1:]
    parse(result)
    return result


def remove_plugin(text, plugin_type):
    """The template without the plugins of type ``plugin_type``; the rest is left byte for byte."""
    while True:
        items = plugins(text).items
        indexes = [number for number, item in enumerate(items)
                   if item.kind == 'object' and item.get('type') is not None
                   and item.get('type').value == plugin_type]
        if not indexes:
            return text
        number = indexes[-1]
        item = items[number]
        if number > 0:
            # From the end of the previous plugin: its comma, the spacing and the plugin go.
            text = text[:items[number - 1].end] + text[item.end:]
        elif len(items) > 1:
            text = text[:item.start] + text[items[1].start:]
        else:
            text = text[:item.start] + text[item.end:]
        parse(text)


def as_json(text, values=None):
    """The template as a Python object, placeholders replaced by ``values`` (default: 0 for an
    unquoted placeholder, which install-cni fills with a number; quoted ones stay as text)."""
    values = values or {}

    def substitute(node):
        if node.kind == 'placeholder':
            return values.get(node.value, 0)
        if node.kind == 'object':
            return dict((name, substitute(child)) for name, child in node.items)
        if node.kind == 'array':
            return [substitute(child) for child in node.items]
        return node.value

    return substitute(parse(text))
