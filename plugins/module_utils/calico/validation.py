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
    """A Calico selector expression. Only its balance is checked here (quotes, parentheses)."""
    text = _require_string(value, 'a selector')
    if not text.strip():
        raise InvalidValue('is an empty selector')
    depth, quote = 0, None
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in '\'"':
            quote = char
        elif char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
            if depth < 0:
                break
    if quote or depth != 0:
        raise InvalidValue('is not a selector (unbalanced quotes or parentheses)')
    return text


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
