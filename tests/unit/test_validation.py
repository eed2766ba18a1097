# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared validators: what Calico accepts passes, the rest fails with a reason that follows
the value."""

import pytest


from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v


def reason(func, *args):
    with pytest.raises(v.InvalidValue) as info:
        func(*args)
    return str(info.value)


@pytest.mark.parametrize('value, expected', [
    ('10.244.0.0/16', '10.244.0.0/16'),
    ('fd00:0::/48', 'fd00::/48'),
    ('0.0.0.0/0', '0.0.0.0/0'),
    ('192.168.1.0/32', '192.168.1.0/32'),
])
def test_network_ok(value, expected):
    assert v.ip_network(value) == expected


@pytest.mark.parametrize('value', ['10.244.0.0/33', '10.244.0.0', '10.244.0/16', 'fd00::/129', 'x/8',
                                   '010.1.0.0/16', 'fe80::%eth0/64', '', 24, None])
def test_network_bad(value):
    assert reason(v.ip_network, value).startswith('is not an IPv4/IPv6 network')


def test_network_host_bits_suggests_the_network():
    assert reason(v.ip_network, '10.244.1.0/16') == \
        "is not a network address (host bits are set; did you mean '10.244.0.0/16'?)"
    assert v.ip_network('10.244.1.0/16', strict=False) == '10.244.0.0/16'


def test_network_family():
    assert reason(v.ip_network, 'fd00::/48', True, 4) == 'is an IPv6 network, not IPv4'


def test_format_error_names_the_input():
    errors = v.ErrorCollector()
    assert errors.check('calico_pod_cidr', '10.244.0.0/33', v.ip_network) is None
    assert errors.messages == ["calico_pod_cidr: '10.244.0.0/33' is not an IPv4/IPv6 network"]
    errors.check('calico_pod_cidr', '10.244.0.0/33', v.ip_network)
    assert len(errors) == 1, 'the same message is kept once'
    with pytest.raises(v.ValidationErrors) as info:
        errors.raise_if_any()
    assert info.value.messages == errors.messages


@pytest.mark.parametrize('value, expected', [
    (0, 0), (64512, 64512), (4294967295, 4294967295), ('64512', 64512), ('1.10', 65546),
    ('65535.65535', 4294967295), ('0.1', 1),
])
def test_as_number_ok(value, expected):
    assert v.as_number(value) == expected


@pytest.mark.parametrize('value', [-1, 4294967296, '4294967296', '1.65536', '1.2.3', 'AS64512', '', True,
                                   1.5, None, '-1'])
def test_as_number_bad(value):
    assert reason(v.as_number, value).startswith('is not an AS number')


@pytest.mark.parametrize('value', ['10.0.0.1', '10.0.0.1:179', 'fd00::1', '[fd00::1]:1179', '::ffff:10.0.0.1'])
def test_peer_ip_ok(value):
    assert v.peer_ip(value) == value


@pytest.mark.parametrize('value, message', [
    ('10.0.0.300', "is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"),
    ('10.0.0.1:0', 'has port 0, outside 1 to 65535'),
    ('10.0.0.1:70000', 'has port 70000, outside 1 to 65535'),
    ('[10.0.0.1]:179', "is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"),
    ('fd00::1:179x', "is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"),
    ('tor.example', "is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"),
])
def test_peer_ip_bad(value, message):
    assert reason(v.peer_ip, value) == message


def test_peer_ip_version():
    assert v.peer_ip_version('10.0.0.1:179') == 4
    assert v.peer_ip_version('[fd00::1]:179') == 6
    assert v.peer_ip_version('fd00::1') == 6


@pytest.mark.parametrize('size, version, ok', [
    (20, 4, True), (32, 4, True), (26, 4, True), (19, 4, False), (33, 4, False),
    (116, 6, True), (128, 6, True), (122, 6, True), (115, 6, False), (26, 6, False), ('26', 4, False),
])
def test_block_size(size, version, ok):
    if ok:
        assert v.block_size(size, version) == size
    else:
        assert 'block size' in reason(v.block_size, size, version)


# Forms from calico-node's autodetection (node/pkg/lifecycle/startup/autodetection).
@pytest.mark.parametrize('method, version', [
    ('first-found', 4), ('kubernetes-internal-ip', 4), ('interface=bond4,eth0', 4),
    ('interface=eth.*', 4), ('interface=bond4 , eth0', 4), ('skip-interface=docker.*,veth.*', 4),
    ('cidr=10.10.0.0/16', 4), ('cidr=10.10.0.1/16, 192.168.0.0/24', 4), ('cidr=fd00::/64', 6),
    ('can-reach=8.8.8.8', 4), ('can-reach=www.example.com', 4), ('can-reach=2001:4860:4860::8888', 6),
])
def test_autodetection_ok(method, version):
    assert v.ip_autodetection_method(method, version) == method


@pytest.mark.parametrize('method, version, message', [
    ('eth0', 4, 'is not a Calico IP autodetection method (first-found, kubernetes-internal-ip, '
                'interface=REGEX[,REGEX...], skip-interface=REGEX[,REGEX...], cidr=CIDR[,CIDR...], '
                'can-reach=DESTINATION)'),
    ('interface:eth0', 4, 'is not a Calico IP autodetection method'),
    ('First-Found', 4, 'is not a Calico IP autodetection method'),
    ('interface=', 4, 'has an empty interface regex (form: interface=REGEX[,REGEX...])'),
    ('interface=eth0,', 4, 'has an empty interface regex'),
    ('interface=eth[0', 4, "has an invalid interface regex 'eth[0'"),
    ('interface=(?!docker).*', 4, "has interface regex '(?!docker).*' with a construct Go regexps do not support"),
    ('skip-interface=(a)\\1', 4, 'with a construct Go regexps do not support'),
    ('cidr=10.10.0.0/33', 4, "has CIDR '10.10.0.0/33' that is not an IPv4/IPv6 network"),
    ('cidr=fd00::/64', 4, "has CIDR 'fd00::/64' that is an IPv6 network, not IPv4"),
    ('can-reach=', 4, "has destination '' that is neither an IP address nor a host name"),
    ('can-reach=8.8.8.8', 6, "has destination '8.8.8.8', an IPv4 address where IPv6 is detected"),
    ('can-reach=not a host', 4, 'neither an IP address nor a host name'),
])
def test_autodetection_bad(method, version, message):
    assert message in reason(v.ip_autodetection_method, method, version)


@pytest.mark.parametrize('value, expected', [
    ('registry.example.internal', 'registry.example.internal'),
    ('registry.example.internal:5000/mirror/calico-team', 'registry.example.internal:5000/mirror/calico-team'),
    ('localhost:5000/', 'localhost:5000'),
    ('harbor', 'harbor'),
])
def test_registry_ok(value, expected):
    assert v.image_registry(value) == expected


@pytest.mark.parametrize('value, message', [
    ('https://registry.example.internal', 'is not an image registry: give host[:port][/path] without a scheme'),
    ('registry.example.internal/Mirror', 'is not an image registry (host[:port][/path], path in lower case)'),
    ('registry example', 'is not an image registry'),
])
def test_registry_bad(value, message):
    assert reason(v.image_registry, value).startswith(message)


@pytest.mark.parametrize('value, ok', [
    ('default-ipv4-ippool', True), ('tor.rack-1', True), ('Tor', False), ('-tor', False), ('a' * 254, False),
    ('', False), (1, False),
])
def test_resource_name(value, ok):
    if ok:
        assert v.resource_name(value) == value
    else:
        assert reason(v.resource_name, value).startswith('is not')


@pytest.mark.parametrize('value, ok', [
    ("rack == 'a'", True), ('has(route-reflector)', True), ('all()', True), ("rack == 'a", False),
    ('has(x', False), ('x)', False), ('  ', False),
])
def test_selector(value, ok):
    if ok:
        assert v.selector(value) == value
    else:
        assert reason(v.selector, value).startswith('is ')


@pytest.mark.parametrize('value, ok', [(0, True), (1440, True), (9000, True), (67, False), (65536, False),
                                       ('1500', False), (True, False)])
def test_mtu(value, ok):
    assert (v.mtu(value) == value) if ok else reason(v.mtu, value).startswith('is not an MTU')


def test_field_name_suggests_camel_case():
    assert v.field_name('prometheusMetricsEnabled') == 'prometheusMetricsEnabled'
    assert reason(v.field_name, 'prometheus_metrics_enabled') == \
        "is not a field name of the Calico API: use camelCase ('prometheusMetricsEnabled')"


@pytest.mark.parametrize('value, ok', [
    ('https://10.0.0.5:2379', True), ('http://etcd-1.example:2379/', True), ('https://[fd00::5]:2379', True),
    ('10.0.0.5:2379', False), ('https://10.0.0.5:99999', False), ('etcd://x', False),
])
def test_etcd_endpoint(value, ok):
    if ok:
        assert v.etcd_endpoint(value) == value.rstrip('/')
    else:
        assert reason(v.etcd_endpoint, value).startswith('is not an etcd endpoint')


def test_encapsulations_and_log_levels():
    assert v.encapsulation('VXLANCrossSubnet') == 'VXLANCrossSubnet'
    assert reason(v.encapsulation, 'GRE') == 'is not one of IPIP, IPIPCrossSubnet, VXLAN, VXLANCrossSubnet, None'
    assert v.ENCAPSULATIONS['VXLAN'] == ('Never', 'Always', 'vxlan')
    assert v.ENCAPSULATIONS['None'] == ('Never', 'Never', 'bird')
    assert reason(v.log_level, 'info') == 'is not one of Trace, Debug, Info, Warning, Error, Fatal'
