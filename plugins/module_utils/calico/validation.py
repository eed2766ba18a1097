# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validators of Calico values, shared by the render module and the calicoctl module.

Every validator takes a value and returns it normalised, or raises ``InvalidValue`` whose text
is a reason phrased to follow the value, so that a caller can say where the value came from::

    calico_pod_cidr: '10.244.0.0/33' is not an IPv4/IPv6 network

Only checks that are cheap and certain live here; each one follows what Calico itself accepts
(the file of Calico that decides is named next to the check).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

_STRING_TYPES = (str,)

# Pool encapsulation modes of an IPPool (libcalico-go: api/pkg/apis/projectcalico/v3/ippool.go).
POOL_MODES = ('Always', 'CrossSubnet', 'Never')

# calico_encapsulation -> (ipipMode, vxlanMode, calico_backend of the calico-config ConfigMap).
# VXLAN without BGP runs calico-node without BIRD: upstream's chart sets calico_backend "vxlan"
# for it (charts/calico/templates/calico-config.yaml).
ENCAPSULATIONS = {
    'IPIP': ('Always', 'Never', 'bird'),
    'IPIPCrossSubnet': ('CrossSubnet', 'Never', 'bird'),
    'VXLAN': ('Never', 'Always', 'vxlan'),
    'VXLANCrossSubnet': ('Never', 'CrossSubnet', 'vxlan'),
    'None': ('Never', 'Never', 'bird'),
}

# IP autodetection methods of calico-node
# (node/pkg/lifecycle/startup/autodetection/autodetection_methods.go).
AUTODETECTION_FORMS = ('first-found', 'kubernetes-internal-ip', 'interface=REGEX[,REGEX...]',
                       'skip-interface=REGEX[,REGEX...]', 'cidr=CIDR[,CIDR...]',
                       'can-reach=DESTINATION')

IPV4_BLOCK_SIZES = (20, 32)
IPV6_BLOCK_SIZES = (116, 128)
AS_NUMBER_MAX = 4294967295
POOL_ALLOWED_USES = ('Workload', 'Tunnel', 'LoadBalancer')

_RFC1123_LABEL = r'[a-z0-9](?:[-a-z0-9]*[a-z0-9])?'
_RFC1123_SUBDOMAIN = re.compile(r'^%s(?:\.%s)*$' % (_RFC1123_LABEL, _RFC1123_LABEL))
_HOSTNAME = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?'
                       r'(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$')
# The two forms with a port that libcalico-go recognises in a BGPPeer's peerIP
# (libcalico-go/lib/validator/v3/validator.go: IPv4PortFormat, IPv6PortFormat).
_IPV4_PORT = re.compile(r'^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$')
_IPV6_PORT = re.compile(r'^\[([0-9a-fA-F:.]+)\]:(\d+)$')
# Image registry: host[:port] and an optional path prefix (distribution reference grammar).
_REGISTRY_HOST = r'(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?))*'
_PATH_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_REGISTRY = re.compile(r'^%s(?::[0-9]{1,5})?(?:/%s)*$' % (_REGISTRY_HOST, _PATH_COMPONENT))
# Constructs of Python's re that Go's RE2 (used by calico-node) refuses.
_NOT_RE2 = re.compile(r'\(\?[=!]|\(\?<[=!]|\(\?P=|\\[1-9]')


class InvalidValue(ValueError):
    """A value that fails a check; ``str()`` is the reason, phrased to follow the value."""


class ValidationErrors(ValueError):
    """One or more invalid inputs; ``messages`` lists them, each naming its input and value."""

    def __init__(self, messages):
        self.messages = list(messages)
        super(ValidationErrors, self).__init__('; '.join(self.messages))


def show(value):
    """The value as an error message shows it: strings in quotes, the rest as JSON."""
    if isinstance(value, _STRING_TYPES):
        return repr(value)
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + '...'


def format_error(label, value, reason):
    return '%s: %s %s' % (label, show(value), reason)


class ErrorCollector:
    """Collects every error of a batch, so that one run reports them all."""

    def __init__(self):
        self.messages = []

    def add(self, label, value, reason):
        self.add_message(format_error(label, value, reason))

    def add_message(self, message):
        if message not in self.messages:
            self.messages.append(message)

    def check(self, label, value, validator, *args, **kwargs):
        """Run ``validator(value, ...)``; on failure record the error and return None."""
        try:
            return validator(value, *args, **kwargs)
        except InvalidValue as exc:
            self.add(label, value, str(exc))
            return None

    def __len__(self):
        return len(self.messages)

    def raise_if_any(self):
        if self.messages:
            raise ValidationErrors(self.messages)


def _require_string(value, what='a string'):
    if not isinstance(value, _STRING_TYPES) or isinstance(value, bool):
        raise InvalidValue('is not %s' % what)
    return str(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def ip_network(value, strict=True, version=None):
    """A network in CIDR notation, returned normalised ('fd00:0::/48' -> 'fd00::/48').

    ``strict``: the address must be the network address (Calico refuses pools with host bits).
    ``version``: 4 or 6 to require a family.
    """
    text = _require_string(value, 'an IPv4/IPv6 network')
    if '/' not in text or '%' in text:
        raise InvalidValue('is not an IPv4/IPv6 network')
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidValue('is not an IPv4/IPv6 network')
    if version is not None and network.version != version:
        raise InvalidValue('is an IPv%d network, not IPv%d' % (network.version, version))
    if strict and network.network_address != ipaddress.ip_address(text.split('/', 1)[0]):
        raise InvalidValue('is not a network address (host bits are set; did you mean %s?)'
                           % show(str(network)))
    return str(network)


def ip_address(value, version=None):
    text = _require_string(value, 'an IP address')
    if '%' in text:
        raise InvalidValue('is not an IP address')
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue('is not an IP address')
    if version is not None and address.version != version:
        raise InvalidValue('is an IPv%d address, not IPv%d' % (address.version, version))
    return str(address)


def as_number(value):
    """A BGP AS number: 0 to 4294967295, or the dotted 'a.b' form (a, b 0 to 65535).

    Returned as an integer, as the CRDs store it (api/pkg/lib/numorstring/asnumber.go).
    """
    reason = 'is not an AS number (0 to %d, or dotted a.b with a and b 0 to 65535)' % AS_NUMBER_MAX
    if _is_int(value):
        if 0 <= value <= AS_NUMBER_MAX:
            return value
        raise InvalidValue(reason)
    if not isinstance(value, _STRING_TYPES):
        raise InvalidValue(reason)
    text = str(value)
    if re.match(r'^[0-9]+$', text):
        number = int(text)
        if number <= AS_NUMBER_MAX:
            return number
        raise InvalidValue(reason)
    match = re.match(r'^([0-9]+)\.([0-9]+)$', text)
    if match:
        high, low = int(match.group(1)), int(match.group(2))
        if high <= 65535 and low <= 65535:
            return (high << 16) + low
    raise InvalidValue(reason)


def peer_ip(value):
    """A BGPPeer peerIP: an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>' (port 1-65535)."""
    reason = "is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"
    text = _require_string(value, 'an IP address')
    host, port, family = text, None, None
    if _IPV4_PORT.match(text):
        (host, port), family = text.rsplit(':', 1), 4
    elif _IPV6_PORT.match(text):
        match = _IPV6_PORT.match(text)
        host, port, family = match.group(1), match.group(2), 6
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidValue(reason)
    if '%' in host or (family is not None and address.version != family):
        raise InvalidValue(reason)
    if port is not None and not 1 <= int(port) <= 65535:
        raise InvalidValue('has port %s, outside 1 to 65535' % port)
    return text


def peer_ip_version(value):
    """4 or 6: the family of a (valid) peerIP."""
    match = _IPV6_PORT.match(value)
    host = match.group(1) if match else (value.rsplit(':', 1)[0] if _IPV4_PORT.match(value) else value)
    return ipaddress.ip_address(host).version


def block_size(value, version):
    """An IPPool blockSize: 20-32 for IPv4, 116-128 for IPv6 (libcalico-go/lib/clientv3/ippool.go)."""
    low, high = IPV4_BLOCK_SIZES if version == 4 else IPV6_BLOCK_SIZES
    if not _is_int(value) or not low <= value <= high:
        raise InvalidValue('is not a valid IPv%d block size (%d to %d)' % (version, low, high))
    return value


def pool_mode(value):
    """An ipipMode or vxlanMode of an IPPool."""
    if value not in POOL_MODES:
        raise InvalidValue('is not one of %s' % ', '.join(POOL_MODES))
    return value


def encapsulation(value):
    if value not in ENCAPSULATIONS:
        raise InvalidValue('is not one of %s' % ', '.join(ENCAPSULATIONS))
    return value


def resource_name(value):
    """A Calico/Kubernetes resource name: an RFC 1123 subdomain."""
    text = _require_string(value, 'a name')
    if len(text) > 253 or not _RFC1123_SUBDOMAIN.match(text):
        raise InvalidValue("is not a valid resource name (lower-case letters, digits, '-' and '.', "
                           "starting and ending with a letter or digit, at most 253 characters)")
    return text


def selector(value):
    """A Calico selector expression, parsed with Calico's grammar (see ``selector_syntax``).

    Unlike a selector field of a resource (where "" means "not set"), a blank selector is refused.
    """
    text = _require_string(value, 'a selector')
    if not text.strip():
        raise InvalidValue('is an empty selector')
    return selector_syntax(text)


def _split_list(text):
    # calico-node splits the lists of its autodetection methods on `\s*,\s*`.
    return re.split(r'\s*,\s*', text)


def ip_autodetection_method(value, version=4):
    """IP_AUTODETECTION_METHOD (version 4) or IP6_AUTODETECTION_METHOD (version 6).

    The forms calico-node accepts (node/pkg/lifecycle/startup/autodetection/
    autodetection_methods.go): ``first-found``, ``kubernetes-internal-ip``,
    ``interface=REGEX[,REGEX]``, ``skip-interface=REGEX[,REGEX]``, ``cidr=CIDR[,CIDR]``,
    ``can-reach=DESTINATION`` (an IP address or a host name). Checked beyond calico-node, which
    would only fail at start-up on the node: empty list items, regexes that RE2 refuses, CIDRs or
    a destination of the other IP family.
    """
    text = _require_string(value, 'a string')
    if text in ('first-found', 'kubernetes-internal-ip'):
        return text
    for prefix in ('interface=', 'skip-interface='):
        if text.startswith(prefix):
            for regex in _split_list(text[len(prefix):]):
                if not regex:
                    raise InvalidValue('has an empty interface regex (form: %sREGEX[,REGEX...])' % prefix)
                if _NOT_RE2.search(regex):
                    raise InvalidValue('has interface regex %s with a construct Go regexps do not '
                                       'support (look-around or back-reference)' % show(regex))
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise InvalidValue('has an invalid interface regex %s: %s' % (show(regex), exc))
            return text
    if text.startswith('cidr='):
        for cidr in _split_list(text[len('cidr='):]):
            try:
                ip_network(cidr, strict=False, version=version)
            except InvalidValue as exc:
                raise InvalidValue('has CIDR %s that %s' % (show(cidr), str(exc)))
        return text
    if text.startswith('can-reach='):
        destination = text[len('can-reach='):]
        try:
            address = ipaddress.ip_address(destination)
        except ValueError:
            if not _HOSTNAME.match(destination):
                raise InvalidValue('has destination %s that is neither an IP address nor a host name'
                                   % show(destination))
        else:
            if address.version != version:
                raise InvalidValue('has destination %s, an IPv%d address where IPv%d is detected'
                                   % (show(destination), address.version, version))
        return text
    raise InvalidValue('is not a Calico IP autodetection method (%s)' % ', '.join(AUTODETECTION_FORMS))


def image_registry(value):
    """A registry host[:port] with an optional path prefix, without scheme; returned without a
    trailing '/'."""
    text = _require_string(value, 'a registry')
    if '://' in text:
        raise InvalidValue("is not an image registry: give host[:port][/path] without a scheme")
    text = text.rstrip('/')
    if not _REGISTRY.match(text):
        raise InvalidValue('is not an image registry (host[:port][/path], path in lower case)')
    return text


def mtu(value):
    """An MTU: 0 (auto-detect, Calico's default) or 68 to 65535."""
    if not _is_int(value) or not (value == 0 or 68 <= value <= 65535):
        raise InvalidValue('is not an MTU (0 for auto-detection, or 68 to 65535)')
    return value


def positive_int(value):
    if not _is_int(value) or value < 1:
        raise InvalidValue('is not a positive integer')
    return value


def etcd_endpoint(value):
    """An etcd client URL: http(s)://host:port."""
    text = _require_string(value, 'an etcd URL')
    match = re.match(r'^(https?)://(\[[0-9a-fA-F:.]+\]|[^/:\[\]\s]+)(?::([0-9]{1,5}))?/?$', text)
    if not match or (match.group(3) and not 1 <= int(match.group(3)) <= 65535):
        raise InvalidValue('is not an etcd endpoint (http://host:port or https://host:port)')
    return text.rstrip('/')


LOG_LEVELS = ('Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal')


def log_level(value):
    """A Calico log severity (libcalico-go/lib/validator/v3/validator.go: logLevelRegex)."""
    if value not in LOG_LEVELS:
        raise InvalidValue('is not one of %s' % ', '.join(LOG_LEVELS))
    return value


def secret_key(value):
    """A key of a Kubernetes Secret: letters, digits, '-', '_' and '.'."""
    text = _require_string(value, 'a Secret key')
    if not re.match(r'^[-._a-zA-Z0-9]{1,253}$', text):
        raise InvalidValue("is not a Secret key (letters, digits, '-', '_' and '.')")
    return text


def field_name(value):
    """A field name of a Calico resource spec, in the API's camelCase."""
    text = _require_string(value, 'a field name')
    if '_' in text or '-' in text:
        camel = re.sub(r'[_-]+([a-zA-Z0-9])', lambda match: match.group(1).upper(), text)
        raise InvalidValue('is not a field name of the Calico API: use camelCase (%s)' % show(camel))
    if not re.match(r'^[a-z][a-zA-Z0-9]*$', text):
        raise InvalidValue('is not a field name of the Calico API (camelCase)')
    return text


def boolean(value):
    if not isinstance(value, bool):
        raise InvalidValue('is not a boolean')
    return value


# ---------------------------------------------------------------------------------------------
# Calico selector grammar (libcalico-go/lib/selector/tokenizer/tokenizer.go and
# libcalico-go/lib/selector/parser/parser.go, v3.31): the same tokens, the same precedence
# (|| over && over !, parentheses), the same acceptance, with the reason of the first error.
# ---------------------------------------------------------------------------------------------

_SELECTOR_MAX_LABEL = 512
(_T_LABEL, _T_STRING, _T_LBRACE, _T_RBRACE, _T_COMMA, _T_EQ, _T_NE, _T_IN, _T_NOT, _T_NOTIN,
 _T_CONTAINS, _T_STARTS, _T_ENDS, _T_ALL, _T_HAS, _T_LPAREN, _T_RPAREN, _T_AND, _T_OR, _T_GLOBAL,
 _T_EOF) = range(21)
_TOKEN_TEXT = {_T_LBRACE: '{', _T_RBRACE: '}', _T_COMMA: ',', _T_EQ: '==', _T_NE: '!=', _T_IN: 'in',
               _T_NOT: '!', _T_NOTIN: 'not in', _T_CONTAINS: 'contains', _T_STARTS: 'starts with',
               _T_ENDS: 'ends with', _T_ALL: 'all()', _T_LPAREN: '(', _T_RPAREN: ')', _T_AND: '&&',
               _T_OR: '||', _T_GLOBAL: 'global()', _T_EOF: 'end of selector'}


class _SelectorError(Exception):
    pass


def _ident_char(char):
    return ('a' <= char <= 'z') or ('A' <= char <= 'Z') or ('0' <= char <= '9') or char in '_./-'


def _trim(text):
    return text.lstrip(' \t')


def _cut_identifier(text):
    end = 0
    while end < len(text) and _ident_char(text[end]):
        end += 1
    ident = text[:end]
    if len(ident) > _SELECTOR_MAX_LABEL:
        raise _SelectorError('label too long (more than %d characters)' % _SELECTOR_MAX_LABEL)
    if not ident:
        raise _SelectorError('expected a label at %s' % show(text[:20]))
    return ident, text[end:]


def _word_boundary(text):
    return not text or not _ident_char(text[0])


def _cut_words(text, *words):
    rest = text
    for word in words:
        if not rest.startswith(word):
            return text, False
        rest = _trim(rest[len(word):]) if len(words) > 1 else rest[len(word):]
    if not _word_boundary(rest):
        return text, False
    return rest, True


def _selector_tokens(text):
    tokens = []
    while True:
        text = _trim(text)
        if not text:
            tokens.append((_T_EOF, None))
            return tokens
        char = text[0]
        simple = {'(': _T_LPAREN, ')': _T_RPAREN, '{': _T_LBRACE, '}': _T_RBRACE, ',': _T_COMMA}
        if char in simple:
            tokens.append((simple[char], None))
            text = text[1:]
        elif char in '"\'':
            end = text.find(char, 1)
            if end == -1:
                raise _SelectorError('unterminated string')
            tokens.append((_T_STRING, text[1:end]))
            text = text[end + 1:]
        elif char == '=':
            if not text.startswith('=='):
                raise _SelectorError("expected '=='")
            tokens.append((_T_EQ, None))
            text = text[2:]
        elif char == '!':
            if text.startswith('!='):
                tokens.append((_T_NE, None))
                text = text[2:]
            else:
                tokens.append((_T_NOT, None))
                text = text[1:]
        elif char in '&|':
            if not text.startswith(char * 2):
                raise _SelectorError("expected '%s'" % (char * 2))
            tokens.append((_T_AND if char == '&' else _T_OR, None))
            text = text[2:]
        elif tokens and tokens[-1][0] == _T_LABEL:
            for words, kind in ((('contains',), _T_CONTAINS), (('starts', 'with'), _T_STARTS),
                                (('ends', 'with'), _T_ENDS), (('not', 'in'), _T_NOTIN), (('in',), _T_IN)):
                text, found = _cut_words(text, *words)
                if found:
                    tokens.append((kind, None))
                    break
            else:
                raise _SelectorError('expected an operator after label %s' % show(tokens[-1][1]))
        elif text.startswith('has('):
            ident, text = _cut_identifier(_trim(text[4:]))
            text = _trim(text)
            if not text.startswith(')'):
                raise _SelectorError("no closing ')' after has(")
            tokens.append((_T_HAS, ident))
            text = text[1:]
        elif text.startswith('all(') or text.startswith('global('):
            kind = _T_ALL if text.startswith('all(') else _T_GLOBAL
            text = _trim(text[text.index('(') + 1:])
            if not text.startswith(')'):
                raise _SelectorError("no closing ')' after %s(" % ('all' if kind == _T_ALL else 'global'))
            tokens.append((kind, None))
            text = text[1:]
        else:
            ident, text = _cut_identifier(text)
            tokens.append((_T_LABEL, ident))


def _token_text(token):
    kind, value = token
    if kind == _T_LABEL:
        return 'label %s' % show(value)
    if kind == _T_STRING:
        return 'string %s' % show(value)
    if kind == _T_HAS:
        return 'has(%s)' % value
    return show(_TOKEN_TEXT[kind]) if kind != _T_EOF else _TOKEN_TEXT[kind]


def _parse_or(tokens, pos):
    pos = _parse_and(tokens, pos)
    while tokens[pos][0] == _T_OR:
        pos = _parse_and(tokens, pos + 1)
    return pos


def _parse_and(tokens, pos):
    pos = _parse_operation(tokens, pos)
    while tokens[pos][0] == _T_AND:
        pos = _parse_operation(tokens, pos + 1)
    return pos


def _parse_operation(tokens, pos):
    while tokens[pos][0] == _T_NOT:
        pos += 1
    kind = tokens[pos][0]
    if kind in (_T_HAS, _T_ALL, _T_GLOBAL):
        return pos + 1
    if kind == _T_LPAREN:
        pos = _parse_or(tokens, pos + 1)
        if tokens[pos][0] != _T_RPAREN:
            raise _SelectorError("expected ')' but found %s" % _token_text(tokens[pos]))
        return pos + 1
    if kind != _T_LABEL:
        raise _SelectorError('unexpected %s' % _token_text(tokens[pos]))
    if len(tokens) - pos < 3:
        raise _SelectorError('unexpected end of selector after %s' % _token_text(tokens[pos]))
    operator = tokens[pos + 1][0]
    if operator in (_T_EQ, _T_NE, _T_CONTAINS, _T_STARTS, _T_ENDS):
        if tokens[pos + 2][0] != _T_STRING:
            raise _SelectorError('expected a quoted string after %s, found %s'
                                 % (_token_text(tokens[pos + 1]), _token_text(tokens[pos + 2])))
        return pos + 3
    if operator in (_T_IN, _T_NOTIN):
        if tokens[pos + 2][0] != _T_LBRACE:
            raise _SelectorError("expected a set literal {'a', 'b'} after %s" % _token_text(tokens[pos + 1]))
        pos += 3
        while tokens[pos][0] == _T_STRING:
            pos += 1
            if tokens[pos][0] != _T_COMMA:
                break
            pos += 1
        if tokens[pos][0] != _T_RBRACE:
            raise _SelectorError("expected '}' but found %s" % _token_text(tokens[pos]))
        return pos + 1
    raise _SelectorError('expected == or != after %s, found %s'
                         % (_token_text(tokens[pos]), _token_text(tokens[pos + 1])))


def selector_syntax(value):
    """A selector as Calico's parser accepts it ("" is valid: it selects everything).

    Labels are ``[a-zA-Z0-9_./-]`` words; strings are quoted with ' or " (no escapes);
    operators ``== != in {...} not in {...} contains starts with ends with``, ``has(l)``,
    ``all()``, ``global()``, ``!``, ``&&``, ``||`` and parentheses; only spaces and tabs separate.
    """
    text = _require_string(value, 'a selector')
    try:
        tokens = _selector_tokens(text)
        if tokens[0][0] != _T_EOF:
            pos = _parse_or(tokens, 0)
            if tokens[pos][0] != _T_EOF:
                raise _SelectorError('unexpected %s' % _token_text(tokens[pos]))
    except _SelectorError as exc:
        raise InvalidValue('is not a valid Calico selector: %s' % exc)
    return text


# ---------------------------------------------------------------------------------------------
# Go durations (metav1.Duration): parsed like Go's time.ParseDuration and stored as
# time.Duration.String() writes them ('90s' -> '1m30s'), as calicoctl stores them.
# ---------------------------------------------------------------------------------------------

_DURATION_UNITS = {'ns': 1, 'us': 1000, u'\u00b5s': 1000, u'\u03bcs': 1000, 'ms': 10 ** 6, 's': 10 ** 9,
                   'm': 60 * 10 ** 9, 'h': 3600 * 10 ** 9}
_MAX_DURATION = (1 << 63) - 1
_DURATION_REASON = 'is not a duration (a number and a unit: h, m, s, ms, us, ns; e.g. 90s, 1m30s, 1.5h)'


def parse_go_duration(value):
    """Nanoseconds of a Go duration string ('1h30m', '1.5s', '-2m', '0')."""
    text = _require_string(value, 'a duration (e.g. 90s, 1m30s)')
    rest, negative = text, False
    if rest[:1] in ('-', '+'):
        negative, rest = rest[0] == '-', rest[1:]
    if rest == '0':
        return 0
    if not rest:
        raise InvalidValue(_DURATION_REASON)
    total = 0
    while rest:
        match = re.match(r'([0-9]*)(?:\.([0-9]*))?', rest)
        whole, fraction = match.group(1), match.group(2)
        if not whole and not fraction:
            raise InvalidValue(_DURATION_REASON)
        rest = rest[match.end():]
        unit_end = 0
        while unit_end < len(rest) and rest[unit_end] != '.' and not '0' <= rest[unit_end] <= '9':
            unit_end += 1
        unit = _DURATION_UNITS.get(rest[:unit_end])
        if unit is None:
            raise InvalidValue(_DURATION_REASON)
        rest = rest[unit_end:]
        amount = int(whole or '0') * unit
        if fraction:
            amount += int(fraction) * unit // (10 ** len(fraction))
        total += amount
        if total > _MAX_DURATION:
            raise InvalidValue('is a duration out of range')
    return -total if negative else total


def _fraction_digits(value, precision):
    digits = ('%0*d' % (precision, value)).rstrip('0')
    return '.' + digits if digits else ''


def format_go_duration(nanoseconds):
    """time.Duration.String(): '1h0m0s', '1m30s', '1.5s', '500ms', '0s'."""
    if nanoseconds == 0:
        return '0s'
    sign, size = ('-' if nanoseconds < 0 else ''), abs(nanoseconds)
    if size < 10 ** 9:
        if size < 1000:
            return '%s%dns' % (sign, size)
        precision, unit = (3, u'\u00b5s') if size < 10 ** 6 else (6, 'ms')
        whole, fraction = divmod(size, 10 ** precision)
        return '%s%d%s%s' % (sign, whole, _fraction_digits(fraction, precision), unit)
    seconds, fraction = divmod(size, 10 ** 9)
    text = '%d%ss' % (seconds % 60, _fraction_digits(fraction, 9))
    minutes = seconds // 60
    if minutes:
        text = '%dm%s' % (minutes % 60, text)
        if minutes // 60:
            text = '%dh%s' % (minutes // 60, text)
    return sign + text


def go_duration(value):
    """A duration as calicoctl stores it: ``go_duration('90s') == '1m30s'``."""
    return format_go_duration(parse_go_duration(value))


# ---------------------------------------------------------------------------------------------
# Kubernetes names, labels and annotations (k8s.io/apimachinery/pkg/util/validation), as
# libcalico-go/lib/validator/v3/validator.go applies them (validateObjectMeta).
# ---------------------------------------------------------------------------------------------

_QUALIFIED_NAME = re.compile(r'^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$')
_LABEL_VALUE = re.compile(r'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')
_DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')


def qualified_name(value):
    """A label or annotation key: [prefix/]name, prefix a DNS subdomain, name at most 63 characters."""
    text = _require_string(value, 'a key')
    prefix, name = text.rsplit('/', 1) if '/' in text else ('', text)
    if '/' in prefix or ('/' in text and not prefix):
        raise InvalidValue("is not a valid key ([prefix/]name)")
    if prefix and (len(prefix) > 253 or not _RFC1123_SUBDOMAIN.match(prefix)):
        raise InvalidValue('is not a valid key: its prefix must be a DNS subdomain (lower case)')
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        raise InvalidValue("is not a valid key: the name part must be 1 to 63 letters, digits, '-', '_' "
                           "or '.', starting and ending with a letter or digit")
    return text


def label_value(value):
    text = _require_string(value, 'a string (quote it in YAML)')
    if len(text) > 63 or not _LABEL_VALUE.match(text):
        raise InvalidValue("is not a valid label value (at most 63 letters, digits, '-', '_' or '.', "
                           "starting and ending with a letter or digit)")
    return text


def dns_label(value):
    text = _require_string(value, 'a name')
    if len(text) > 63 or not _DNS1123_LABEL.match(text):
        raise InvalidValue("is not a DNS label (lower-case letters, digits and '-', at most 63)")
    return text


# ---------------------------------------------------------------------------------------------
# Addresses as Go's net package and libcalico-go/lib/net parse them.
# ---------------------------------------------------------------------------------------------

def parse_address_or_cidr(text):
    """(address, network) of ``192.0.2.1``, ``192.0.2.1/24`` or ``10.0.0.0/8`` (the network keeps the
    given prefix, host bits allowed); ValueError for anything else, zone suffixes included."""
    if '%' in text:
        raise ValueError('zone suffix')
    if '/' in text:
        return ipaddress.ip_address(text.split('/', 1)[0]), ipaddress.ip_network(text, strict=False)
    return ipaddress.ip_address(text), ipaddress.ip_network(text)


def cidr_or_ip(value, version=None, strict=False):
    """cnet.ParseCIDROrIP: a CIDR, or an address (a /32 or /128). ``strict``: host bits unset
    (the validator's 'net'); ``version`` 4 or 6. Returned unchanged, as calicoctl stores it."""
    text = _require_string(value, 'an IP address or CIDR')
    try:
        address, network = parse_address_or_cidr(text)
    except ValueError:
        raise InvalidValue('is not an IP address or CIDR')
    if version is not None and address.version != version:
        raise InvalidValue('is not an IPv%d address or CIDR' % version)
    if strict and network.network_address != address:
        raise InvalidValue('is not a network address (host bits are set; did you mean %s?)' % show(str(network)))
    return text


def ipv4_address(value):
    return ip_address(value, 4)


def ipv6_address(value):
    return ip_address(value, 6)


_MAC = re.compile(r'^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}'
                  r'|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2,9})$')


def mac_address(value):
    """A MAC address in a form Go's net.ParseMAC reads (xx:xx:.., xx-xx-.., xxxx.xxxx.xxxx)."""
    text = _require_string(value, 'a MAC address')
    if not _MAC.match(text) or ('.' in text and len(text.split('.')) not in (3, 4, 10)):
        raise InvalidValue('is not a MAC address')
    if ':' in text and '-' in text:
        raise InvalidValue('is not a MAC address')
    return text


def go_regexp(value):
    """A regular expression Go's regexp (RE2) compiles; checked with Python's re plus the
    constructs RE2 refuses (look-around, back-references)."""
    text = _require_string(value, 'a regular expression')
    if _NOT_RE2.search(text):
        raise InvalidValue('is not a Go regular expression (look-around and back-references are not supported)')
    try:
        re.compile(text)
    except re.error as exc:
        raise InvalidValue('is not a valid regular expression: %s' % exc)
    return text


# BGP communities (libcalico-go/lib/validator/v3/validator.go: isValidCommunity).
_STANDARD_COMMUNITY = re.compile(r'^(\d+):(\d+)$')
_LARGE_COMMUNITY = re.compile(r'^(\d+):(\d+):(\d+)$')


def bgp_community(value):
    """'aa:nn' (16-bit parts) or 'aa:nn:mm' (32-bit parts)."""
    text = _require_string(value, 'a BGP community')
    match = _STANDARD_COMMUNITY.match(text) or _LARGE_COMMUNITY.match(text)
    if not match:
        raise InvalidValue("is not a BGP community ('aa:nn' or 'aa:nn:mm')")
    bits = 16 if match.re is _STANDARD_COMMUNITY else 32
    if any(int(part) >= 1 << bits for part in match.groups()):
        raise InvalidValue('is not a BGP community: each part of this form is a %d-bit number' % bits)
    return text


def is_bgp_community(text):
    return isinstance(text, _STRING_TYPES) and bool(_STANDARD_COMMUNITY.match(text) or _LARGE_COMMUNITY.match(text))


# ---------------------------------------------------------------------------------------------
# Whole-resource validation of the calicoctl module (the rules live in resource_validation.py).
# ---------------------------------------------------------------------------------------------

def validate_resources(resources, state, datastore=None):
    """Validate a batch of Calico resources for ``state`` (present, absent, patched) and return
    them canonical, with calicoctl's defaults for ``present``; raise ``ValidationErrors`` with
    every problem of the batch. ``datastore`` ('kubernetes' or 'etcdv3', optional) adds the rules
    of that datastore. See resource_validation.validate_resources."""
    from ansible_collections.k8snet.calico.plugins.module_utils.calico import resource_validation
    return resource_validation.validate_resources(resources, state, datastore=datastore)


def validate_against_live(resources, live_by_kind):
    """The checks that need the live resources (overlapping pools, immutable pool fields, missing
    BGP filters, Node labels owned by Kubernetes); raise ``ValidationErrors``.
    See resource_validation.validate_against_live."""
    from ansible_collections.k8snet.calico.plugins.module_utils.calico import resource_validation
    return resource_validation.validate_against_live(resources, live_by_kind)
