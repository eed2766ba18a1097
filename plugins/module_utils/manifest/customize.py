# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The customisations of an upstream Calico manifest, as functions on its parsed documents.

Each function finds what it changes by structure (the ConfigMap ``calico-config``, the DaemonSet
``calico-node`` and its container ``calico-node``, ...), never by Calico version, changes only
that, and returns the list of changes it made (empty when the manifest already had the value).
When the structure it needs is missing it raises ManifestError saying what is missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import cni
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.document import (
    Manifest, ManifestError, containers, pod_spec)
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.options import ETCD_TLS_FILES

CONFIG_MAP = 'calico-config'
NODE = 'calico-node'
TYPHA = 'calico-typha'
ETCD_SECRET = 'calico-etcd-secrets'


# ---------------------------------------------------------------------------------------------
# Look-ups


def calico_config(manifest, purpose):
    doc = manifest.require('ConfigMap', CONFIG_MAP, purpose)
    if doc.data.get('data') is None:
        doc.data['data'] = {}
    if not isinstance(doc.data['data'], dict):
        raise ManifestError('ConfigMap %s has no data mapping, needed to %s' % (CONFIG_MAP, purpose))
    return doc


def calico_node(manifest, purpose):
    """(document, pod spec, container) of the calico-node container of the calico-node DaemonSet."""
    doc = manifest.require('DaemonSet', NODE, purpose)
    spec = pod_spec(doc)
    for key, container in containers(spec or {}):
        if key == 'containers' and container.get('name') == NODE:
            return doc, spec, container
    raise ManifestError('DaemonSet %s has no container %r, needed to %s' % (NODE, NODE, purpose))


def env_index(container, name):
    for number, entry in enumerate(container.get('env') or ()):
        if isinstance(entry, dict) and entry.get('name') == name:
            return number
    return None


def env_value(container, name):
    number = env_index(container, name)
    return None if number is None else container['env'][number].get('value')


def set_env(doc, container, name, value, after=()):
    """Set env ``name`` of a container to a literal ``value``: in place if it is there (replacing
    a valueFrom), else after the first of the ``after`` variables present, else at the end."""
    env = container.get('env')
    if env is None:
        env = container['env'] = []
    number = env_index(container, name)
    where = '%s env %s=%s' % (container.get('name'), name, value)
    if number is not None:
        entry = env[number]
        if entry.get('value') == value and 'valueFrom' not in entry:
            return []
        was = repr(entry['value']) if 'value' in entry else 'set from %s' % ', '.join(entry.get('valueFrom') or {})
        env[number] = {'name': name, 'value': value}
        doc.modified = True
        return ['%s (was %s)' % (where, was)]
    position = len(env)
    for anchor in after:
        found = env_index(container, anchor)
        if found is not None:
            position = found + 1
            break
    env.insert(position, {'name': name, 'value': value})
    doc.modified = True
    return ['%s (added)' % where]


def set_config(doc, key, value):
    data = doc.data['data']
    if data.get(key) == value:
        return []
    was = 'was %r' % data[key] if key in data else 'added'
    data[key] = value
    doc.modified = True
    return ['ConfigMap %s %s=%s (%s)' % (doc.name, key, value, was)]


# ---------------------------------------------------------------------------------------------
# Customisations


def split_image(image):
    """(registry or None, rest) of an image reference: the first path component is a registry
    when it has a '.' or a ':' or is 'localhost' (the rule of the distribution reference)."""
    first, sep, rest = image.partition('/')
    if sep and ('.' in first or ':' in first or first == 'localhost'):
        return first, rest
    return None, image


def set_image_registry(manifest, registry):
    """Every image of every pod template (init containers too) moved to ``registry``, keeping
    its repository path and its tag or digest."""
    count, moves = 0, []
    for doc in manifest.objects():
        spec = pod_spec(doc)
        if spec is None:
            continue
        for _key, container in containers(spec):
            image = container.get('image')
            if not isinstance(image, str) or not image:
                continue
            old_registry, rest = split_image(image)
            new_image = '%s/%s' % (registry, rest)
            if new_image == image:
                continue
            container['image'] = new_image
            doc.modified = True
            count += 1
            move = '%s -> %s' % (old_registry or '(no registry)', registry)
            if move not in moves:
                moves.append(move)
    if not count:
        return []
    return ['images rewritten: %d (%s)' % (count, ', '.join(moves))]


def set_pool_cidr(manifest, cidr):
    """CALICO_IPV4POOL_CIDR in calico-node's env (upstream ships it commented out)."""
    doc, _spec, container = calico_node(manifest, 'set CALICO_IPV4POOL_CIDR')
    return set_env(doc, container, 'CALICO_IPV4POOL_CIDR', cidr,
                   after=('CALICO_IPV4POOL_VXLAN', 'CALICO_IPV4POOL_IPIP', 'IP'))


def set_autodetection(manifest, method, version):
    """IP_AUTODETECTION_METHOD (version 4) or IP6_AUTODETECTION_METHOD (6), next to IP / IP6.
    Returns (changes, warnings): calico-node reads the method only when IP (IP6) is
    'autodetect' (IP also when unset)."""
    name = 'IP_AUTODETECTION_METHOD' if version == 4 else 'IP6_AUTODETECTION_METHOD'
    doc, _spec, container = calico_node(manifest, 'set ' + name)
    after = ('IP',) if version == 4 else ('IP6', 'IP_AUTODETECTION_METHOD', 'IP')
    changes = set_env(doc, container, name, method, after=after)
    address_var = 'IP' if version == 4 else 'IP6'
    address = env_value(container, address_var)
    warnings = []
    if address != 'autodetect' and not (version == 4 and env_index(container, 'IP') is None):
        warnings.append('%s is set, but calico-node ignores it: its %s env is %s, not "autodetect"'
                        % (name, address_var, 'unset' if address is None else repr(address)))
    return changes, warnings


def set_encapsulation(manifest, encapsulation):
    """The encapsulation of the default pool calico-node creates, and the networking backend.

    CALICO_IPV4POOL_IPIP / CALICO_IPV4POOL_VXLAN (and CALICO_IPV6POOL_VXLAN where upstream has
    it) take Always / CrossSubnet / Never; ``calico_backend`` is ``bird`` with BGP (IPIP or no
    encapsulation) and ``vxlan`` for VXLAN-only. With the ``vxlan`` backend calico-node does not
    run BIRD, so the BIRD health checks (``-bird-live``, ``-bird-ready``) would keep the pod
    unready and restart it: upstream drops them from the probes for VXLAN in the chart the
    manifests are built from (charts/calico/templates/calico-node.yaml, ``.Values.vxlan``), and
    so does this.
    """
    ipip, vxlan, backend = v.ENCAPSULATIONS[encapsulation]
    config = calico_config(manifest, 'set calico_backend')
    doc, _spec, container = calico_node(manifest, 'set the pool encapsulation')
    changes = []
    changes += set_env(doc, container, 'CALICO_IPV4POOL_IPIP', ipip, after=('IP',))
    changes += set_env(doc, container, 'CALICO_IPV4POOL_VXLAN', vxlan, after=('CALICO_IPV4POOL_IPIP',))
    if env_index(container, 'CALICO_IPV6POOL_VXLAN') is not None:
        changes += set_env(doc, container, 'CALICO_IPV6POOL_VXLAN', vxlan)
    changes += set_config(config, 'calico_backend', backend)
    if backend == 'vxlan':
        removed = []
        for probe in ('livenessProbe', 'readinessProbe'):
            command = ((container.get(probe) or {}).get('exec') or {}).get('command')
            if not isinstance(command, list):
                continue
            kept = [arg for arg in command if not (isinstance(arg, str) and arg.startswith('-bird'))]
            if kept != command:
                removed += [arg for arg in command if arg not in kept]
                container[probe]['exec']['command'] = kept
                doc.modified = True
        if removed:
            changes.append('%s probes: %s removed (the vxlan backend runs no BIRD)'
                           % (NODE, ', '.join(removed)))
    return changes


def set_mtu(manifest, mtu):
    config = calico_config(manifest, 'set veth_mtu')
    return set_config(config, 'veth_mtu', str(mtu))


def set_bandwidth_plugin(manifest, enabled):
    """The CNI ``bandwidth`` plugin chained in ``cni_network_config`` (added or removed)."""
    config = calico_config(manifest, 'change the CNI plugins')
    template = config.data['data'].get('cni_network_config')
    if not isinstance(template, str):
        raise ManifestError('ConfigMap %s has no cni_network_config, needed to change the CNI plugins'
                            % CONFIG_MAP)
    try:
        if enabled:
            result = cni.add_plugin(template, cni.BANDWIDTH_PLUGIN)
        else:
            result = cni.remove_plugin(template, 'bandwidth')
    except cni.TemplateError as exc:
        raise ManifestError('ConfigMap %s cni_network_config: %s' % (CONFIG_MAP, exc))
    if result == template:
        return []
    config.data['data']['cni_network_config'] = result
    config.modified = True
    return ['ConfigMap %s cni_network_config: bandwidth plugin %s'
            % (CONFIG_MAP, 'added' if enabled else 'removed')]


def set_typha_replicas(manifest, replicas, label='typha_replicas'):
    doc = manifest.find('Deployment', TYPHA)
    if doc is None:
        raise ManifestError('%s: %d is set, but the manifest has no Deployment %s (render the Typha '
                            'manifest to use Typha)' % (label, replicas, TYPHA))
    spec = doc.data.setdefault('spec', {})
    if spec.get('replicas') == replicas:
        return []
    was = spec.get('replicas')
    spec['replicas'] = replicas
    doc.modified = True
    return ['Deployment %s replicas=%d (was %s)' % (TYPHA, replicas, was)]


def check_datastore(manifest, datastore, label='datastore'):
    """The manifest must be the one of the datastore: upstream's etcd manifest is the one whose
    calico-config has ``etcd_endpoints``."""
    config = calico_config(manifest, 'check the datastore')
    is_etcd = 'etcd_endpoints' in config.data['data']
    if datastore == 'etcdv3' and not is_etcd:
        raise ManifestError("%s: 'etcdv3', but the manifest is not an etcd manifest (ConfigMap %s "
                            "has no etcd_endpoints): use upstream's calico-etcd.yaml"
                            % (label, CONFIG_MAP))
    if datastore != 'etcdv3' and is_etcd:
        raise ManifestError("%s: %r, but the manifest is an etcd manifest (ConfigMap %s has "
                            "etcd_endpoints): use upstream's calico.yaml or calico-typha.yaml"
                            % (label, datastore, CONFIG_MAP))


def _etcd_secret_mount(manifest):
    """Mount path of Secret calico-etcd-secrets in calico-node, and its key -> file mapping."""
    _doc, spec, container = calico_node(manifest, 'find where the etcd TLS files are mounted')
    for volume in spec.get('volumes') or ():
        secret = volume.get('secret') if isinstance(volume, dict) else None
        if not isinstance(secret, dict) or secret.get('secretName') != ETCD_SECRET:
            continue
        for mount in container.get('volumeMounts') or ():
            if mount.get('name') == volume.get('name') and mount.get('mountPath'):
                items = dict((item.get('key'), item.get('path')) for item in secret.get('items') or ())
                return mount['mountPath'].rstrip('/'), items
    raise ManifestError('container %s mounts no volume of Secret %s, needed for the etcd TLS files'
                        % (NODE, ETCD_SECRET))


def set_etcd(manifest, endpoints, tls):
    """``etcd_endpoints`` (comma-separated) in calico-config, and the TLS files: their content
    (base64) in Secret calico-etcd-secrets and their paths inside the pods in calico-config."""
    config = calico_config(manifest, 'set etcd_endpoints')
    changes = set_config(config, 'etcd_endpoints', ','.join(endpoints))
    if not tls:
        return changes
    secret = manifest.require('Secret', ETCD_SECRET, 'hold the etcd TLS files')
    mount, items = _etcd_secret_mount(manifest)
    data = secret.data.get('data')
    if data is None:
        data = secret.data['data'] = {}
    changed_keys = []
    for _option, secret_key, config_key in ETCD_TLS_FILES:
        if secret_key not in tls:
            continue
        encoded = base64.b64encode(tls[secret_key]).decode('ascii')
        if data.get(secret_key) != encoded:
            data[secret_key] = encoded
            secret.modified = True
            changed_keys.append(secret_key)
        changes += set_config(config, config_key, '%s/%s' % (mount, items.get(secret_key, secret_key)))
    if changed_keys:
        changes.append('Secret %s: %s set' % (ETCD_SECRET, ', '.join(changed_keys)))
    return changes


# ---------------------------------------------------------------------------------------------
# All of them


class RenderResult:
    def __init__(self, text, changes, warnings, upstream_sha256, manifest):
        self.text = text
        self.changes = changes
        self.warnings = warnings
        self.upstream_sha256 = upstream_sha256
        self.manifest = manifest


def customize(manifest, opts):
    """Apply every option that is set, in a fixed order. Returns (changes, warnings)."""
    changes, warnings = [], []
    check_datastore(manifest, opts.datastore, opts.label('datastore'))
    if opts.image_registry:
        changes += set_image_registry(manifest, opts.image_registry)
    if opts.pod_cidr:
        changes += set_pool_cidr(manifest, opts.pod_cidr)
    for version, method in ((4, opts.ip_autodetection_method), (6, opts.ip6_autodetection_method)):
        if method:
            more, warned = set_autodetection(manifest, method, version)
            changes += more
            warnings += warned
    if opts.encapsulation:
        changes += set_encapsulation(manifest, opts.encapsulation)
    if opts.mtu is not None:
        changes += set_mtu(manifest, opts.mtu)
    if opts.bandwidth_plugin is not None:
        changes += set_bandwidth_plugin(manifest, opts.bandwidth_plugin)
    if opts.typha_replicas is not None:
        changes += set_typha_replicas(manifest, opts.typha_replicas, opts.label('typha_replicas'))
    if opts.datastore == 'etcdv3':
        changes += set_etcd(manifest, opts.etcd_endpoints, opts.etcd_tls)
    return changes, warnings


def header(upstream_sha256, changes):
    lines = ['# Rendered by k8snet.calico from the upstream Calico manifest with sha256',
             '# %s.' % upstream_sha256]
    if changes:
        lines.append('# Changes to it (documents not changed are byte for byte upstream\'s):')
        lines += ['#   - %s' % change for change in changes]
    else:
        lines.append('# No changes: apart from this header, the file is upstream\'s.')
    return '\n'.join(lines) + '\n'


def render_manifest(text, opts):
    """Render an upstream manifest (its text) with validated ManifestOptions."""
    manifest = Manifest(text)
    changes, warnings = customize(manifest, opts)
    body = manifest.render()
    return RenderResult(header(manifest.sha256, changes) + body, changes, warnings, manifest.sha256, manifest)
