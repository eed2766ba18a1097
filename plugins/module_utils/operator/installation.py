# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The operator install method: the Installation (and APIServer) that the inventory describes,
and the customised upstream ``tigera-operator.yaml``.

The inventory is the same as for the manifest method; its values are validated by the same
checks (``manifest.options``, ``inventory_resources``) and translated into the
``operator.tigera.io/v1`` API:

- ``image_registry`` -> ``spec.registry`` (with the trailing ``/`` the API asks for); the
  operator keeps each image's path (``calico/node``), so the images are the ones the manifest
  method gives;
- ``ip_pools`` (or ``pod_cidr``) and ``encapsulation`` -> ``calicoNetwork.ipPools`` (the
  operator creates and owns these IPPools);
- ``encapsulation`` -> ``calicoNetwork.bgp`` (``Disabled`` for the VXLAN modes, as the manifest
  method sets ``calico_backend: vxlan``);
- ``ip_autodetection_method`` / ``ip6_autodetection_method`` ->
  ``nodeAddressAutodetectionV4`` / ``V6``;
- ``mtu`` -> ``calicoNetwork.mtu`` (0, auto-detection, is the operator's default: left out).

``schema_errors`` checks a rendered object against the ``openAPIV3Schema`` of the CRD of the
release being installed (types, enums, unknown fields), so that a field an older operator does
not know is an error naming the inventory variable before anything is applied.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.k8snet.calico.plugins.module_utils import inventory_resources
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.customize import set_image_registry
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.options import is_set, manifest_options

API_VERSION = 'operator.tigera.io/v1'
OPERATOR_DEPLOYMENT = 'tigera-operator'

# (ipipMode, vxlanMode) of a pool -> the operator's encapsulation name.
_ENCAPSULATION = {
    ('Always', 'Never'): 'IPIP',
    ('CrossSubnet', 'Never'): 'IPIPCrossSubnet',
    ('Never', 'Always'): 'VXLAN',
    ('Never', 'CrossSubnet'): 'VXLANCrossSubnet',
    ('Never', 'Never'): 'None',
}
# pool spec field (projectcalico.org/v3) -> (Installation ipPools field, inventory key)
_POOL_FIELDS = (
    ('blockSize', 'blockSize', 'block_size'),
    ('nodeSelector', 'nodeSelector', 'node_selector'),
    ('disableBGPExport', 'disableBGPExport', 'disable_bgp_export'),
    ('allowedUses', 'allowedUses', 'allowed_uses'),
    ('disabled', 'disableNewAllocations', 'disabled'),
)
# Options of the manifest method that have no place in an Installation: (option, why).
IGNORED_OPTIONS = (
    ('bandwidth_plugin', 'the Installation API has no such field: the operator writes the CNI '
                         'configuration of the nodes itself'),
    ('typha_replicas', 'the operator scales calico-typha itself'),
)


def autodetection(method):
    """The operator's NodeAddressAutodetection for a validated IP_AUTODETECTION_METHOD value.

    A comma-separated list of interface regexes becomes one regex of alternatives
    (``bond4,eth0`` -> ``bond4|eth0``): the operator gives calico-node ``interface=<regex>``."""
    if method == 'first-found':
        return {'firstFound': True}
    if method == 'kubernetes-internal-ip':
        return {'kubernetes': 'NodeInternalIP'}
    for prefix, field in (('interface=', 'interface'), ('skip-interface=', 'skipInterface')):
        if method.startswith(prefix):
            return {field: '|'.join(v._split_list(method[len(prefix):]))}
    if method.startswith('cidr='):
        return {'cidrs': v._split_list(method[len('cidr='):])}
    if method.startswith('can-reach='):
        return {'canReach': method[len('can-reach='):]}
    raise ValueError('not an autodetection method: %r' % (method,))


def _operator_pool(pool, item, label):
    spec = pool['spec']
    result = {'name': pool['metadata']['name'], 'cidr': spec['cidr']}
    modes = (spec.get('ipipMode') or 'Never', spec.get('vxlanMode') or 'Never')
    result['encapsulation'] = _ENCAPSULATION.get(modes, 'None')
    result['natOutgoing'] = 'Enabled' if spec.get('natOutgoing') else 'Disabled'
    sources = {}
    for field, target, key in _POOL_FIELDS:
        if spec.get(field) is not None and spec.get(field) != '':
            result[target] = spec[field]
            sources[target] = label(key)
    sources.update({'name': label('name'), 'cidr': label('cidr'), 'natOutgoing': label('nat_outgoing'),
                    'encapsulation': label('ipip_mode') if isinstance(item, dict) and 'ipip_mode' in item
                    else label('vxlan_mode') if isinstance(item, dict) and 'vxlan_mode' in item
                    else None})
    return result, sources


class OperatorRender:
    """What the operator method renders from the inventory: ``installation``, ``apiserver`` (or
    None), ``resources`` (calico-resources.yaml without the IPPools, which the operator owns),
    ``felix`` (FelixConfiguration default, to merge), ``warnings``, and ``sources`` (a path in the Installation -> the inventory variable it comes
    from, to name it in errors)."""

    def __init__(self):
        self.installation = None
        self.apiserver = None
        self.resources = []
        self.felix = []
        self.warnings = []
        self.sources = {}


def build(params, prefix='calico_', errors=None):
    """OperatorRender from the inventory values (short names, as the calico_render module takes
    them). Every bad value is added to ``errors`` (or raised as ValidationErrors)."""
    own = errors is None
    errors = errors if errors is not None else v.ErrorCollector()
    result = OperatorRender()

    def label(name):
        return prefix + name
    opts = manifest_options(params, prefix, errors)
    if opts.datastore != 'kubernetes':
        errors.add(label('datastore'), opts.datastore,
                   "is not possible with %s 'operator': the operator installs Calico on the Kubernetes "
                   "datastore only" % label('install_method'))
    resources = inventory_resources.build_resources(params, prefix, errors)
    # The operator owns the IPPools of the Installation and writes fields of FelixConfiguration
    # default itself: that one is merged into the live resource (felix-configuration.yaml), not
    # replaced as calico-resources.yaml's resources are.
    result.resources = [item for item in resources if item['kind'] not in ('IPPool', 'FelixConfiguration')]
    result.felix = [item for item in resources if item['kind'] == 'FelixConfiguration']
    pools = [item for item in resources if item['kind'] == 'IPPool']

    network = {}
    spec = {'variant': 'Calico', 'calicoNetwork': network}
    if opts.image_registry:
        spec['registry'] = opts.image_registry.rstrip('/') + '/'
        result.sources['spec.registry'] = label('image_registry')
    encap = opts.encapsulation or 'IPIP'
    network['bgp'] = 'Disabled' if encap.startswith('VXLAN') else 'Enabled'
    result.sources['spec.calicoNetwork.bgp'] = label('encapsulation')
    items, derived = inventory_resources._default_pools(params)
    variable = label('pod_cidr' if derived else 'ip_pools')
    operator_pools = []
    for index, pool in enumerate(pools):
        item = items[index] if isinstance(items, (list, tuple)) and index < len(items) else {}
        if derived:
            def pool_label(key, _variable=variable):
                return _variable
        else:
            def pool_label(key, _variable=variable, _index=index, _item=item):
                name = _item.get('name') if isinstance(_item, dict) else None
                return '%s[%d]%s.%s' % (_variable, _index, ' (%s)' % name if name else '', key)
        converted, sources = _operator_pool(pool, item, pool_label)
        if network['bgp'] == 'Disabled' and converted['encapsulation'].startswith('IPIP'):
            errors.add(pool_label('ipip_mode'), converted['encapsulation'],
                       "needs BGP, which the operator turns off with %s '%s' (calicoNetwork.bgp: Disabled)"
                       % (label('encapsulation'), encap))
        if not sources.get('encapsulation'):
            sources['encapsulation'] = label('encapsulation')
        operator_pools.append(converted)
        for field, source in sources.items():
            if source:
                result.sources['spec.calicoNetwork.ipPools[%d].%s' % (index, field)] = source
    if operator_pools or derived or is_set(params.get('ip_pools')):
        network['ipPools'] = operator_pools
        result.sources['spec.calicoNetwork.ipPools'] = variable
    for version, name in ((4, 'ip_autodetection_method'), (6, 'ip6_autodetection_method')):
        method = getattr(opts, name)
        if method:
            field = 'nodeAddressAutodetectionV%d' % version
            network[field] = autodetection(method)
            result.sources['spec.calicoNetwork.%s' % field] = label(name)
    if opts.mtu:
        network['mtu'] = opts.mtu
        result.sources['spec.calicoNetwork.mtu'] = label('mtu')
    for option, why in IGNORED_OPTIONS:
        if params.get(option) is not None and params.get(option) != '':
            result.warnings.append("%s is ignored with %s 'operator': %s" % (label(option), label('install_method'), why))
    result.installation = {'apiVersion': API_VERSION, 'kind': 'Installation', 'metadata': {'name': 'default'},
                           'spec': spec}
    if params.get('operator_apiserver'):
        result.apiserver = {'apiVersion': API_VERSION, 'kind': 'APIServer', 'metadata': {'name': 'default'},
                            'spec': {}}
    if own:
        errors.raise_if_any()
    return result


# ---------------------------------------------------------------------------------------------
# The operator's own manifest and CRDs


def crd_schemas(manifest):
    """{kind: openAPIV3Schema of its served storage version} of the CRDs of operator.tigera.io in
    a parsed Manifest."""
    schemas = {}
    for doc in manifest.objects():
        data = doc.data
        if doc.kind != 'CustomResourceDefinition' or data.get('spec', {}).get('group') != 'operator.tigera.io':
            continue
        for version in data['spec'].get('versions') or []:
            if version.get('name') == 'v1' and version.get('schema', {}).get('openAPIV3Schema'):
                schemas[data['spec']['names']['kind']] = version['schema']['openAPIV3Schema']
    return schemas


def _schema_type_ok(value, kind):
    if kind == 'object':
        return isinstance(value, dict)
    if kind == 'array':
        return isinstance(value, list)
    if kind == 'string':
        return isinstance(value, str)
    if kind == 'boolean':
        return isinstance(value, bool)
    if kind == 'integer':
        return isinstance(value, int) and not isinstance(value, bool)
    return True


def schema_errors(value, schema, path=''):
    """(path, reason) of every place where ``value`` does not fit ``schema`` (a CRD's
    structural openAPIV3Schema): wrong type, value not in the enum, field the schema does not
    know, required field missing. Enough to catch what a render can get wrong; the API server
    applies the full validation."""
    problems = []
    if schema.get('x-kubernetes-int-or-string') and isinstance(value, (int, str)) and not isinstance(value, bool):
        return problems
    kind = schema.get('type')
    if kind and not _schema_type_ok(value, kind):
        return [(path, 'is not of type %s' % kind)]
    if 'enum' in schema and value not in schema['enum']:
        problems.append((path, 'is not one of %s' % ', '.join(str(item) for item in schema['enum'])))
    if isinstance(value, dict):
        properties = schema.get('properties')
        for key in schema.get('required') or []:
            if key not in value:
                problems.append(('%s.%s' % (path, key) if path else key, 'is required'))
        for key, item in value.items():
            where = '%s.%s' % (path, key) if path else key
            if properties is not None and key in properties:
                problems += schema_errors(item, properties[key], where)
            elif properties is not None and not schema.get('additionalProperties') \
                    and not schema.get('x-kubernetes-preserve-unknown-fields'):
                problems.append((where, 'is not a field of this operator release'))
            elif isinstance(schema.get('additionalProperties'), dict):
                problems += schema_errors(item, schema['additionalProperties'], where)
    if isinstance(value, list) and isinstance(schema.get('items'), dict):
        for index, item in enumerate(value):
            problems += schema_errors(item, schema['items'], '%s[%d]' % (path, index))
    return problems


def check_against_crds(render, schemas, errors, prefix='calico_'):
    """Add an error naming the inventory variable for each problem of the rendered objects
    against the CRD schemas of the release (``crd_schemas``)."""
    for obj in (render.installation, render.apiserver):
        if obj is None:
            continue
        schema = schemas.get(obj['kind'])
        if schema is None:
            errors.add_message('%soperator_crds_url: the CRDs of this release have no %s (operator.tigera.io/v1)'
                               % (prefix, obj['kind']))
            continue
        for path, reason in schema_errors(obj, schema):
            source = _source_of(render.sources, path)
            value = _value_at(obj, path)
            errors.add_message('%s: %s %s %s (checked against the %s CRD of this release)'
                               % (source or obj['kind'], path, v.show(value), reason, obj['kind']))


def _source_of(sources, path):
    best = None
    for key, source in sources.items():
        if path == key or path.startswith(key + '.') or path.startswith(key + '['):
            if best is None or len(key) > len(best[0]):
                best = (key, source)
    return best[1] if best else None


def _value_at(obj, path):
    current = obj
    for part in path.replace('[', '.[').split('.'):
        if not part:
            continue
        try:
            current = current[int(part[1:-1])] if part.startswith('[') else current[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return current


def operator_manifest(text, registry, crd_names=()):
    """(text, changes) of the upstream tigera-operator.yaml with the operator's image moved to
    ``registry`` and without the CRDs named in ``crd_names`` (those applied from
    operator-crds.yaml). Untouched documents stay byte for byte upstream's."""
    manifest = document.Manifest(text)
    manifest.require('Deployment', OPERATOR_DEPLOYMENT, 'move the operator image to the registry')
    changes = []
    if registry:
        changes += set_image_registry(manifest, registry)
    kept, dropped = [], 0
    for doc in manifest.documents:
        if doc.kind == 'CustomResourceDefinition' and doc.name in crd_names:
            dropped += 1
            continue
        kept.append(doc)
    if dropped:
        changes.append('CustomResourceDefinitions left out: %d (applied from operator-crds.yaml)' % dropped)
    head = ['# Rendered by k8snet.calico from the upstream tigera-operator.yaml with sha256',
            '# %s.' % manifest.sha256]
    head += ['#   - %s' % change for change in changes] or ['# No changes: apart from this header, upstream\'s.']
    return '\n'.join(head) + '\n' + ''.join(doc.render() for doc in kept), changes, manifest.sha256


def custom_resources_text(render):
    head = ('# The operator\'s custom resources rendered by k8snet.calico from the inventory\n'
            '# (calico_install_method: operator). The operator creates Calico from them.\n')
    objects = [render.installation] + ([render.apiserver] if render.apiserver else [])
    return head + ''.join('---\n' + document.dump_yaml(copy.deepcopy(item)) for item in objects)
