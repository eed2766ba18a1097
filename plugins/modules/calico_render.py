#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: calico_render
short_description: Render a customised Calico manifest and the Calico resources of an inventory
version_added: "0.1.0"
description:
  - Reads an upstream Calico manifest (C(calico.yaml), C(calico-typha.yaml) or C(calico-etcd.yaml)
    of any release), applies the customisations that are set, and writes the result as
    C(calico.yaml) into O(dest), beside C(calico-resources.yaml) with the Calico resources
    (BGPConfiguration C(default), BGPPeers, IPPools, FelixConfiguration C(default)) in
    C(projectcalico.org/v3) form.
  - Changes are made on the parsed documents, found by structure (the ConfigMap C(calico-config),
    the DaemonSet C(calico-node) and its container C(calico-node), ...), never by release. What is
    not set stays as upstream has it; documents that no change touches are written byte for byte
    as upstream has them. A missing structure is a clear error.
  - Every input is validated before anything is rendered; if one is invalid, nothing is written and
    the error names the input (by default as the inventory variable of the role
    C(k8snet.calico.calico), e.g. C(calico_pod_cidr)) and its value.
  - The output is deterministic, the same inputs give byte-identical files. A file is only written when its
    content differs. The manifest is written with mode C(0600) when it holds etcd TLS files,
    C(0644) otherwise.
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The text of etcd TLS data in Secrets is shown redacted, as a hash.
      - A manifest that does not exist yet is shown against the upstream manifest, so that the diff
        lists the customisations.
  platform:
    platforms: posix
options:
  src:
    description:
      - Path of the upstream manifest on the host that runs the module. Required unless
        O(validate_only=true).
    type: path
  dest:
    description:
      - Directory to write the files into; created if missing. Required unless
        O(validate_only=true).
    type: path
  validate_only:
    description:
      - Only validate the options, render and write nothing (O(src) is not read).
    type: bool
    default: false
  variable_prefix:
    description:
      - Prefix of the option names in error messages, so that errors name the inventory variables
        of the role (C(pod_cidr) is reported as C(calico_pod_cidr)). Set to an empty string to name
        the module options.
    type: str
    default: calico_
  manifest_name:
    description: File name of the rendered manifest in O(dest).
    type: str
    default: calico.yaml
  resources_name:
    description: File name of the Calico resources in O(dest).
    type: str
    default: calico-resources.yaml
  datastore:
    description:
      - C(kubernetes) or C(etcdv3). It must match the manifest given in O(src) (C(calico-etcd.yaml)
        for C(etcdv3)).
    type: str
    default: kubernetes
  image_registry:
    description:
      - Registry (C(host[:port]) with an optional path) that replaces the registry of every image,
        init containers included, keeping repository path and tag. Upstream uses C(docker.io) up to
        v3.30 and C(quay.io) from v3.31.
    type: str
  pod_cidr:
    description: IPv4 network for C(CALICO_IPV4POOL_CIDR) of calico-node (the default pool).
    type: str
  ip_autodetection_method:
    description:
      - C(IP_AUTODETECTION_METHOD) of calico-node, placed after C(IP). One of C(first-found),
        C(kubernetes-internal-ip), C(interface=REGEX[,REGEX]), C(skip-interface=REGEX[,REGEX]),
        C(cidr=CIDR[,CIDR]), C(can-reach=DESTINATION).
    type: str
  ip6_autodetection_method:
    description: C(IP6_AUTODETECTION_METHOD) of calico-node, in the same forms.
    type: str
  encapsulation:
    description:
      - One of C(IPIP), C(IPIPCrossSubnet), C(VXLAN), C(VXLANCrossSubnet), C(None). Sets
        C(CALICO_IPV4POOL_IPIP), C(CALICO_IPV4POOL_VXLAN) (and C(CALICO_IPV6POOL_VXLAN) where
        present), C(calico_backend) (C(bird), or C(vxlan) for the VXLAN modes, which also drops the
        BIRD checks from calico-node's probes), and the default modes of the IPPools.
    type: str
  mtu:
    description: C(veth_mtu) of the ConfigMap (0 is auto-detection).
    type: int
  bandwidth_plugin:
    description:
      - V(true) chains the CNI C(bandwidth) plugin in C(cni_network_config), V(false) removes it;
        unset keeps upstream's choice (chained up to v3.29, not from v3.30).
    type: bool
  typha_replicas:
    description: Replicas of the C(calico-typha) Deployment, which the manifest must have.
    type: int
  etcd_endpoints:
    description: etcd URLs (C(etcdv3) only), written comma-separated as C(etcd_endpoints).
    type: list
    elements: str
  etcd_ca_cert:
    description: CA certificate file (PEM) for etcd, put in Secret C(calico-etcd-secrets).
    type: path
  etcd_cert:
    description: Client certificate file (PEM) for etcd.
    type: path
  etcd_key:
    description: Client key file (PEM) for etcd.
    type: path
  bgp_node_mesh:
    description: C(nodeToNodeMeshEnabled) of BGPConfiguration C(default).
    type: bool
    default: true
  bgp_as_number:
    description: C(asNumber) of BGPConfiguration C(default) (integer or dotted C(a.b)).
    type: raw
  bgp_log_severity_screen:
    description: C(logSeverityScreen) of BGPConfiguration C(default).
    type: str
    default: Info
  bgp_service_cluster_ips:
    description: Service CIDRs to advertise (C(serviceClusterIPs)).
    type: list
    elements: str
  bgp_peers:
    description:
      - BGPPeers. Keys C(name), C(peer_ip) (IP, C(ip:port) or C([ipv6]:port)), C(as_number),
        C(node), C(node_selector), C(peer_selector), C(password) (C({secret_name, secret_key}), a
        reference to a Kubernetes Secret).
    type: list
    elements: dict
  ip_pools:
    description:
      - IPPools. Keys C(name), C(cidr), C(block_size), C(nat_outgoing) (default V(false)),
        C(ipip_mode), C(vxlan_mode) (default from O(encapsulation)), C(node_selector),
        C(disabled), C(allowed_uses), C(disable_bgp_export). Without any, one pool
        C(default-ipv4-ippool) of O(pod_cidr) when that is set.
    type: list
    elements: dict
  ip_reservations:
    description:
      - IPReservations, addresses that Calico IPAM does not hand out automatically. Keys C(name) and
        C(reserved_cidrs) (addresses or CIDRs).
    type: list
    elements: dict
  felix_config:
    description: Fields of FelixConfiguration C(default), in the API's camelCase; none, no resource.
    type: dict
  install_method:
    description:
      - C(manifest) renders C(calico.yaml) from O(src), an upstream C(calico*.yaml).
      - C(operator) takes O(src) as upstream's C(tigera-operator.yaml) and writes, instead of
        C(calico.yaml), O(operator_manifest_name) (the operator's image moved to
        O(image_registry)), O(operator_crds_name) (a copy of O(crds_src)), and
        O(custom_resources_name) with the C(Installation) C(default) (and C(APIServer) C(default)
        with O(operator_apiserver)) rendered from the same options; C(calico-resources.yaml)
        then leaves out the IPPools, which the operator creates from the Installation, and the
        FelixConfiguration C(default), written to C(felix-configuration.yaml) to be merged into
        the live resource (the operator sets fields of it too). The
        Installation is checked against the C(openAPIV3Schema) of the release's CRDs (from
        O(crds_src), else from O(src)) - a field this operator release does not know is an
        error naming the option. O(bandwidth_plugin) and O(typha_replicas) are ignored with a
        warning; O(datastore) must be C(kubernetes).
    type: str
    choices: [manifest, operator]
    default: manifest
  crds_src:
    description:
      - With O(install_method=operator), path of upstream's C(operator-crds.yaml). Its CRDs are
        left out of O(operator_manifest_name) and written, unchanged, to O(operator_crds_name).
    type: path
  operator_apiserver:
    description: With O(install_method=operator), also render the C(APIServer) C(default).
    type: bool
    default: false
  operator_manifest_name:
    description: File name of the rendered operator manifest in O(dest).
    type: str
    default: tigera-operator.yaml
  operator_crds_name:
    description: File name of the operator's CRDs in O(dest).
    type: str
    default: operator-crds.yaml
  custom_resources_name:
    description: File name of the Installation (and APIServer) in O(dest).
    type: str
    default: custom-resources.yaml
requirements:
  - PyYAML
notes:
  - Run it where the files are (usually the controller, with C(delegate_to=localhost)).
seealso:
  - name: Calico manifest install
    description: Upstream's manifests and their customisation.
    link: https://docs.tigera.io/calico/latest/getting-started/kubernetes/self-managed-onprem/onpremises
"""

EXAMPLES = r"""
- name: Render the manifest and resources
  k8snet.calico.calico_render:
    src: /var/cache/calico/v3.31.7/calico.yaml
    dest: "{{ playbook_dir }}/rendered"
    image_registry: registry.example.internal
    pod_cidr: 10.244.0.0/16
    ip_autodetection_method: interface=bond4,eth0
    encapsulation: IPIP
    bandwidth_plugin: true
    bgp_node_mesh: false
    bgp_as_number: 64512
    bgp_service_cluster_ips: [10.96.0.0/12]
    bgp_peers:
      - name: tor
        peer_ip: 10.0.0.1
        as_number: 64500
  delegate_to: localhost

- name: Only validate the inventory values
  k8snet.calico.calico_render:
    validate_only: true
    pod_cidr: "{{ calico_pod_cidr }}"
"""

RETURN = r"""
changes:
  description: What was changed in the upstream manifest, one line each.
  returned: unless validate_only
  type: list
  elements: str
  sample: ["images rewritten: 5 (quay.io -> registry.example.internal)",
           "calico-node env IP_AUTODETECTION_METHOD=interface=bond4,eth0 (added)"]
resources:
  description: The Calico resources written, as C(Kind name).
  returned: always
  type: list
  elements: str
  sample: ["BGPConfiguration default", "BGPPeer tor", "IPPool default-ipv4-ippool"]
files:
  description: Per file name, its path, whether it changed and the sha256 of its content.
  returned: unless validate_only
  type: dict
  sample: {"calico.yaml": {"path": "/srv/rendered/calico.yaml", "changed": true, "sha256": "..."}}
installation:
  description: The Installation rendered, with O(install_method=operator).
  returned: success with install_method operator, unless validate_only
  type: dict
upstream_sha256:
  description: sha256 of the upstream manifest read from O(src).
  returned: unless validate_only
  type: str
dest:
  description: The directory the files are in.
  returned: unless validate_only
  type: str
errors:
  description: Every invalid input, when validation fails.
  returned: failure
  type: list
  elements: str
"""

import hashlib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.k8snet.calico.plugins.module_utils import inventory_resources
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.customize import render_manifest
from ansible_collections.k8snet.calico.plugins.module_utils.operator import installation
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.options import (
    MANIFEST_OPTIONS, manifest_options, unused_option_warnings)

# PyYAML is imported, guarded, by module_utils.manifest.document.
HAS_YAML = document.HAS_YAML
YAML_IMPORT_ERROR = document.YAML_IMPORT_ERROR

_SECRET_VALUE = re.compile(r'''^(\s+[-._a-zA-Z0-9]+:[ \t]+)(["']?)([A-Za-z0-9+/=]{16,})\2[ \t]*$''', re.M)


def resources_text(resources):
    head = ('# Calico resources rendered by k8snet.calico from the inventory (projectcalico.org/v3).\n'
            '# Apply with the k8snet.calico.calicoctl module or `calicoctl apply -f`.\n')
    return head + ''.join('---\n' + document.dump_yaml(item) for item in resources)


def redact_secrets(text):
    """The text with the data values of Secret documents replaced by a short hash, for --diff."""
    if 'kind: Secret' not in text:
        return text
    pieces = []
    for _line, piece in document.split_stream(text):
        if re.search(r'^kind:[ \t]*Secret[ \t]*$', piece, re.M):
            piece = _SECRET_VALUE.sub(
                lambda m: '%s<redacted sha256:%s>' % (m.group(1), hashlib.sha256(to_bytes(m.group(3))).hexdigest()[:16]),
                piece)
        pieces.append(piece)
    return ''.join(pieces)


def read_text(path):
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8')


def write_file(module, path, content, mode):
    """Write ``content`` to ``path`` atomically, with ``mode``."""
    handle, temp = tempfile.mkstemp(prefix='.calico_render.', dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(to_bytes(content))
        os.chmod(temp, mode)
        module.atomic_move(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    # atomic_move gives a new file the mode of the umask: set ours.
    os.chmod(path, mode)


def write_outputs(module, dest, outputs, new_against, no_diff=()):
    """Write each (name, content, mode) of ``outputs`` into ``dest`` when it differs (not in check
    mode). ``new_against``: {name: (source, text)}, what a new file is shown against in the diff.
    Returns (files, diffs, changed)."""
    if os.path.exists(dest) and not os.path.isdir(dest):
        module.fail_json(msg='dest: %s exists and is not a directory' % dest)
    files, diffs, changed = {}, [], False
    for name, content, mode in outputs:
        path = os.path.join(dest, name)
        before = None
        if os.path.exists(path):
            try:
                before = read_text(path)
            except (IOError, OSError, UnicodeDecodeError):
                before = None
        content_changed = before != content
        mode_changed = os.path.exists(path) and (os.stat(path).st_mode & 0o7777) != mode
        files[name] = dict(path=path, changed=content_changed or mode_changed,
                           sha256=hashlib.sha256(to_bytes(content)).hexdigest())
        changed = changed or files[name]['changed']
        if content_changed and module._diff and name not in no_diff:
            before_header, before_text = path, before or ''
            if before is None and name in new_against:
                # A new manifest is shown against upstream's: the customisations, not 7,000 new lines.
                before_header = 'upstream %s (%s is new)' % (new_against[name][0], path)
                before_text = new_against[name][1]
            diffs.append(dict(before_header=before_header, after_header=path,
                              before=redact_secrets(before_text), after=redact_secrets(content)))
        if module.check_mode:
            continue
        if content_changed:
            if not os.path.isdir(dest):
                try:
                    os.makedirs(dest, 0o755)
                except OSError as exc:
                    module.fail_json(msg='dest: cannot create %s: %s' % (dest, to_native(exc)))
            write_file(module, path, content, mode)
        elif mode_changed:
            os.chmod(path, mode)

    return files, diffs, changed


def render_operator(module, params):
    """calico_install_method operator: tigera-operator.yaml (operator image moved to the
    registry), operator-crds.yaml (upstream's, when O(crds_src) is given), custom-resources.yaml
    (Installation, APIServer) and calico-resources.yaml without the IPPools the operator owns."""
    prefix = params['variable_prefix']
    errors = validation.ErrorCollector()
    render = installation.build(params, prefix, errors)
    names = ('operator_manifest_name', 'operator_crds_name', 'custom_resources_name', 'resources_name')
    for name in names:
        if not params[name] or '/' in params[name] or params[name] in ('.', '..'):
            errors.add(name, params[name], 'is not a file name')
    if errors.messages:
        module.fail_json(msg='Invalid input: ' + '; '.join(errors.messages), errors=errors.messages)
    summary = inventory_resources.summary(render.resources + render.felix) + [
        '%s %s' % (item['kind'], item['metadata']['name']) for item in (render.installation, render.apiserver) if item]
    if params['validate_only']:
        for warning in render.warnings:
            module.warn(warning)
        module.exit_json(changed=False, resources=summary)
    src, dest, crds_src = params['src'], params['dest'], params['crds_src']
    texts = {}
    for option, path in (('src', src), ('crds_src', crds_src)):
        if path:
            try:
                texts[option] = read_text(path)
            except (IOError, OSError, UnicodeDecodeError) as exc:
                module.fail_json(msg='%s: cannot read %s: %s' % (option, path, to_native(exc)))
    try:
        crd_names, schemas = (), {}
        if crds_src:
            crds = document.Manifest(texts['crds_src'])
            crd_names = [doc.name for doc in crds.objects() if doc.kind == 'CustomResourceDefinition']
            schemas = installation.crd_schemas(crds)
        operator_text, changes, upstream_sha256 = installation.operator_manifest(
            texts['src'], params['image_registry'], crd_names)
        if not schemas:
            schemas = installation.crd_schemas(document.Manifest(texts['src']))
    except document.ManifestError as exc:
        module.fail_json(msg='%s (operator manifest %s or CRDs %s)' % (to_native(exc), src, crds_src))
    if not schemas:
        module.fail_json(msg='%soperator_crds_url: neither %s nor %s holds the CRDs of operator.tigera.io, '
                             'so the Installation cannot be checked' % (prefix, src, crds_src or '(none)'))
    installation.check_against_crds(render, schemas, errors, prefix)
    if errors.messages:
        module.fail_json(msg='Invalid input for this operator release: ' + '; '.join(errors.messages),
                         errors=errors.messages)
    for warning in render.warnings:
        module.warn(warning)
    outputs = [(params['operator_manifest_name'], operator_text, 0o644)]
    if crds_src:
        outputs.append((params['operator_crds_name'], texts['crds_src'], 0o644))
    outputs += [(params['custom_resources_name'], installation.custom_resources_text(render), 0o644),
                (params['resources_name'], resources_text(render.resources), 0o644)]
    if render.felix:
        outputs.append(('felix-configuration.yaml', resources_text(render.felix), 0o644))
    files, diffs, changed = write_outputs(module, dest, outputs, {params['operator_manifest_name']: (src, texts['src'])},
                                          no_diff=(params['operator_crds_name'],))
    response = dict(changed=changed, changes=changes, resources=summary, files=files,
                    upstream_sha256=upstream_sha256, dest=dest, installation=render.installation)
    if diffs:
        response['diff'] = diffs
    module.exit_json(**response)


def main():
    argument_spec = dict(
        src=dict(type='path'),
        dest=dict(type='path'),
        validate_only=dict(type='bool', default=False),
        variable_prefix=dict(type='str', default='calico_'),
        manifest_name=dict(type='str', default='calico.yaml'),
        resources_name=dict(type='str', default='calico-resources.yaml'),
        datastore=dict(type='str', default='kubernetes'),
        image_registry=dict(type='str'),
        pod_cidr=dict(type='str'),
        ip_autodetection_method=dict(type='str'),
        ip6_autodetection_method=dict(type='str'),
        encapsulation=dict(type='str'),
        mtu=dict(type='int'),
        bandwidth_plugin=dict(type='bool'),
        typha_replicas=dict(type='int'),
        etcd_endpoints=dict(type='list', elements='str'),
        etcd_ca_cert=dict(type='path'),
        etcd_cert=dict(type='path'),
        etcd_key=dict(type='path'),
        bgp_node_mesh=dict(type='bool', default=True),
        bgp_as_number=dict(type='raw'),
        bgp_log_severity_screen=dict(type='str', default='Info'),
        bgp_service_cluster_ips=dict(type='list', elements='str'),
        bgp_peers=dict(type='list', elements='dict'),
        ip_pools=dict(type='list', elements='dict'),
        ip_reservations=dict(type='list', elements='dict'),
        felix_config=dict(type='dict'),
        install_method=dict(type='str', default='manifest', choices=['manifest', 'operator']),
        crds_src=dict(type='path'),
        operator_apiserver=dict(type='bool', default=False),
        operator_manifest_name=dict(type='str', default='tigera-operator.yaml'),
        operator_crds_name=dict(type='str', default='operator-crds.yaml'),
        custom_resources_name=dict(type='str', default='custom-resources.yaml'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('validate_only', False, ('src', 'dest'))],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=YAML_IMPORT_ERROR)

    params = module.params
    if params['install_method'] == 'operator':
        render_operator(module, params)
    prefix = params['variable_prefix']
    errors = validation.ErrorCollector()
    opts = manifest_options(dict((name, params[name]) for name in MANIFEST_OPTIONS), prefix, errors)
    resources = inventory_resources.build_resources(params, prefix, errors)
    for name in ('manifest_name', 'resources_name'):
        if not params[name] or '/' in params[name] or params[name] in ('.', '..'):
            errors.add(name, params[name], 'is not a file name')
    if errors.messages:
        module.fail_json(msg='Invalid input: ' + '; '.join(errors.messages), errors=errors.messages)
    for warning in unused_option_warnings(params, opts) + inventory_resources.pool_warnings(params, prefix):
        module.warn(warning)
    summary = inventory_resources.summary(resources)
    if params['validate_only']:
        module.exit_json(changed=False, resources=summary)

    src, dest = params['src'], params['dest']
    try:
        upstream = read_text(src)
    except (IOError, OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg='src: cannot read the upstream manifest %s: %s' % (src, to_native(exc)))
    try:
        result = render_manifest(upstream, opts)
    except document.ManifestError as exc:
        module.fail_json(msg='%s (manifest %s)' % (to_native(exc), src), upstream_sha256=hashlib.sha256(
            to_bytes(upstream)).hexdigest())
    for warning in result.warnings:
        module.warn(warning)

    outputs = [
        (params['manifest_name'], result.text, 0o600 if opts.etcd_tls and opts.datastore == 'etcdv3' else 0o644),
        (params['resources_name'], resources_text(resources), 0o644),
    ]
    files, diffs, changed = write_outputs(module, dest, outputs, {params['manifest_name']: (src, upstream)})

    response = dict(changed=changed, changes=result.changes, resources=summary, files=files,
                    upstream_sha256=result.upstream_sha256, dest=dest)
    if diffs:
        response['diff'] = diffs
    module.exit_json(**response)


if __name__ == '__main__':
    main()
