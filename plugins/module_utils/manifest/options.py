# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The customisation options of the manifest render, validated before anything is rendered.

Options are given by their short names (``pod_cidr``); errors name them with a prefix, by default
``calico_``, so that they name the inventory variables of the role ``k8snet.calico.calico``.
An option that is None or an empty string is not set: the manifest keeps upstream's value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v

DATASTORES = ('kubernetes', 'etcdv3')
ETCD_TLS_FILES = (
    # option, key in Secret calico-etcd-secrets, key in ConfigMap calico-config
    ('etcd_ca_cert', 'etcd-ca', 'etcd_ca'),
    ('etcd_cert', 'etcd-cert', 'etcd_cert'),
    ('etcd_key', 'etcd-key', 'etcd_key'),
)
MANIFEST_OPTIONS = ('datastore', 'image_registry', 'pod_cidr', 'ip_autodetection_method',
                    'ip6_autodetection_method', 'encapsulation', 'mtu', 'bandwidth_plugin',
                    'typha_replicas', 'etcd_endpoints', 'etcd_ca_cert', 'etcd_cert', 'etcd_key')


def is_set(value):
    return value is not None and value != '' and value != []


class ManifestOptions:
    """Validated, normalised customisation options. Unset ones are None."""

    def __init__(self, prefix='calico_'):
        self.prefix = prefix
        for name in MANIFEST_OPTIONS:
            setattr(self, name, None)
        self.datastore = 'kubernetes'
        self.etcd_tls = {}  # Secret key -> file content (bytes)

    def label(self, name):
        return self.prefix + name


def _read_pem(path):
    try:
        with open(path, 'rb') as handle:
            content = handle.read()
    except (IOError, OSError) as exc:
        raise v.InvalidValue('cannot be read: %s' % (exc.strerror or exc))
    if b'-----BEGIN ' not in content:
        raise v.InvalidValue('is not a PEM file (no -----BEGIN line)')
    return content


def manifest_options(params, prefix='calico_', errors=None):
    """ManifestOptions from a dict of raw values; raises ValidationErrors naming every bad one
    (or adds them to ``errors``, an ErrorCollector, if one is given)."""
    own = errors is None
    errors = errors if errors is not None else v.ErrorCollector()
    opts = ManifestOptions(prefix)
    label = opts.label
    get = params.get

    datastore = get('datastore')
    if is_set(datastore):
        if datastore not in DATASTORES:
            errors.add(label('datastore'), datastore, 'is not one of %s' % ', '.join(DATASTORES))
        else:
            opts.datastore = datastore
    if is_set(get('image_registry')):
        opts.image_registry = errors.check(label('image_registry'), get('image_registry'), v.image_registry)
    if is_set(get('pod_cidr')):
        cidr = errors.check(label('pod_cidr'), get('pod_cidr'), v.ip_network)
        if cidr is not None and ':' in cidr:
            errors.add(label('pod_cidr'), get('pod_cidr'),
                       'is an IPv6 network: CALICO_IPV4POOL_CIDR takes IPv4 (put IPv6 pools in %s)'
                       % label('ip_pools'))
            cidr = None
        opts.pod_cidr = cidr
    for name, version in (('ip_autodetection_method', 4), ('ip6_autodetection_method', 6)):
        if is_set(get(name)):
            setattr(opts, name, errors.check(label(name), get(name), v.ip_autodetection_method, version))
    if is_set(get('encapsulation')):
        opts.encapsulation = errors.check(label('encapsulation'), get('encapsulation'), v.encapsulation)
    if get('mtu') is not None and get('mtu') != '':
        opts.mtu = errors.check(label('mtu'), get('mtu'), v.mtu)
    if get('bandwidth_plugin') is not None and get('bandwidth_plugin') != '':
        if not isinstance(get('bandwidth_plugin'), bool):
            errors.add(label('bandwidth_plugin'), get('bandwidth_plugin'), 'is not a boolean')
        else:
            opts.bandwidth_plugin = get('bandwidth_plugin')
    if get('typha_replicas') is not None and get('typha_replicas') != '':
        opts.typha_replicas = errors.check(label('typha_replicas'), get('typha_replicas'), v.positive_int)

    endpoints = get('etcd_endpoints')
    if is_set(endpoints):
        if isinstance(endpoints, str):
            endpoints = [item.strip() for item in endpoints.split(',')]
        if not isinstance(endpoints, (list, tuple)):
            errors.add(label('etcd_endpoints'), endpoints, 'is not a list of URLs')
        else:
            checked = [errors.check('%s[%d]' % (label('etcd_endpoints'), number), item, v.etcd_endpoint)
                       for number, item in enumerate(endpoints)]
            opts.etcd_endpoints = checked if None not in checked else None
    for option, secret_key, _config_key in ETCD_TLS_FILES:
        path = get(option)
        if is_set(path):
            if not isinstance(path, str):
                errors.add(label(option), path, 'is not a file path')
                continue
            content = errors.check(label(option), os.path.expanduser(path), _read_pem)
            if content is not None:
                opts.etcd_tls[secret_key] = content
                setattr(opts, option, path)
    if opts.datastore == 'etcdv3':
        if not is_set(endpoints):
            errors.add_message('%s: is required when %s is \'etcdv3\'' % (label('etcd_endpoints'), label('datastore')))
        if is_set(get('etcd_cert')) != is_set(get('etcd_key')):
            errors.add_message('%s and %s: give both (client certificate and its key) or neither'
                               % (label('etcd_cert'), label('etcd_key')))
    if own:
        errors.raise_if_any()
    return opts


def unused_option_warnings(params, opts):
    """Warnings for options set where they have no effect."""
    warnings = []
    if opts.datastore != 'etcdv3':
        for name in ('etcd_endpoints', 'etcd_ca_cert', 'etcd_cert', 'etcd_key'):
            if is_set(params.get(name)):
                warnings.append('%s is ignored: %s is %r' % (opts.label(name), opts.label('datastore'),
                                                             opts.datastore))
    return warnings
