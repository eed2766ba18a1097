# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Calico label selectors (BGPPeer nodeSelector / peerSelector), parsed and matched against labels.

The grammar is the one libcalico-go's selector parser accepts:

    expr     := or
    or       := and ( '||' and )*
    and      := unary ( '&&' unary )*
    unary    := '!' unary | '(' expr ')' | 'all()' | 'global()' | 'has(' key ')'
              | key op string | key ('in' | 'not in') '{' string (',' string)* '}'
    op       := '==' | '!=' | 'contains' | 'starts with' | 'ends with'

Strings are single- or double-quoted; an empty selector matches everything, like ``all()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<and>&&) | (?P<or>\|\|) | (?P<ne>!=) | (?P<eq>==) | (?P<not>!)
    | (?P<lparen>\() | (?P<rparen>\)) | (?P<lbrace>\{) | (?P<rbrace>\}) | (?P<comma>,)
    | "(?P<dq>[^"]*)" | '(?P<sq>[^']*)'
    | (?P<word>[A-Za-z0-9_./-]+)
    )""", re.VERBOSE)
_KEY = re.compile(r'^[A-Za-z0-9_./-]+$')


class SelectorError(ValueError):
    """The selector text is not valid; the message names the selector and the position."""


def _tokens(text):
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == '':
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            pos += len(text[pos:]) - len(text[pos:].lstrip())
            raise SelectorError('selector %r: unexpected text at position %d: %r' % (text, pos, text[pos:pos + 10]))
        kind = match.lastgroup
        value = match.group(kind)
        tokens.append(('string' if kind in ('dq', 'sq') else kind, value))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def fail(self, what):
        at = ' '.join(value for _kind, value in self.tokens[self.pos:self.pos + 3]) or 'the end'
        raise SelectorError('selector %r: %s, found %s' % (self.text, what, at))

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    _NAMES = {'word': 'a label key', 'string': 'a quoted string', 'lparen': '(', 'rparen': ')',
              'lbrace': '{', 'rbrace': '}'}

    def take(self, kind, value=None):
        token = self.peek()
        if token[0] != kind or (value is not None and token[1] != value):
            self.fail('expected %s' % (value or self._NAMES.get(kind, kind)))
        self.pos += 1
        return token[1]

    def parse(self):
        if not self.tokens:
            return ('all',)
        node = self.parse_or()
        if self.pos != len(self.tokens):
            self.fail('expected && or || or the end')
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.peek()[0] == 'or':
            self.pos += 1
            node = ('or', node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_unary()
        while self.peek()[0] == 'and':
            self.pos += 1
            node = ('and', node, self.parse_unary())
        return node

    def parse_unary(self):
        kind, value = self.peek()
        if kind == 'not':
            self.pos += 1
            return ('not', self.parse_unary())
        if kind == 'lparen':
            self.pos += 1
            node = self.parse_or()
            self.take('rparen')
            return node
        if kind != 'word':
            self.fail('expected a label key, has(), all() or (')
        if value in ('all', 'global') and self.peek(1)[0] == 'lparen':
            self.pos += 1
            self.take('lparen')
            self.take('rparen')
            return ('all',)
        if value == 'has' and self.peek(1)[0] == 'lparen':
            self.pos += 1
            self.take('lparen')
            key = self.take('word')
            self.take('rparen')
            return ('has', key)
        self.pos += 1
        return self.parse_comparison(value)

    def parse_comparison(self, key):
        kind, value = self.peek()
        if kind in ('eq', 'ne'):
            self.pos += 1
            return (kind, key, self.take('string'))
        if kind == 'word' and value in ('contains', 'in'):
            self.pos += 1
            return ('contains', key, self.take('string')) if value == 'contains' else ('in', key, self.parse_set())
        if kind == 'word' and value in ('starts', 'ends') and self.peek(1) == ('word', 'with'):
            self.pos += 2
            return ('starts' if value == 'starts' else 'ends', key, self.take('string'))
        if kind == 'word' and value == 'not' and self.peek(1) == ('word', 'in'):
            self.pos += 2
            return ('not', ('in', key, self.parse_set()))
        self.fail('expected ==, !=, in, not in, contains, starts with or ends with after %r' % key)

    def parse_set(self):
        self.take('lbrace')
        values = []
        if self.peek()[0] != 'rbrace':
            values.append(self.take('string'))
            while self.peek()[0] == 'comma':
                self.pos += 1
                values.append(self.take('string'))
        self.take('rbrace')
        return frozenset(values)


def parse(text):
    """The selector as a tree of tuples; raises SelectorError naming the selector."""
    if text is None:
        text = ''
    if not isinstance(text, str):
        raise SelectorError('selector %r is not a string' % (text,))
    return _Parser(text).parse()


def _match(node, labels):
    op = node[0]
    if op == 'all':
        return True
    if op == 'not':
        return not _match(node[1], labels)
    if op == 'and':
        return _match(node[1], labels) and _match(node[2], labels)
    if op == 'or':
        return _match(node[1], labels) or _match(node[2], labels)
    if op == 'has':
        return node[1] in labels
    key, operand = node[1], node[2]
    if op == 'ne':
        return labels.get(key) != operand
    if key not in labels:
        return False
    value = labels[key]
    if op == 'eq':
        return value == operand
    if op == 'in':
        return value in operand
    if op == 'contains':
        return operand in value
    if op == 'starts':
        return value.startswith(operand)
    return value.endswith(operand)


def matches(text, labels):
    """Whether labels (a mapping) satisfy the selector text."""
    return _match(parse(text), labels or {})


def quote(value):
    """A label value as a selector string literal."""
    return "'%s'" % value if "'" not in value else '"%s"' % value


def equals(key, value):
    """The selector ``key == 'value'``."""
    if not _KEY.match(key or ''):
        raise SelectorError('label key %r is not valid in a selector' % (key,))
    return '%s == %s' % (key, quote(value))
