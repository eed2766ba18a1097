# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A multi-document YAML manifest, read and written deterministically.

The stream is cut into its documents at the ``---`` lines (a document marker cannot occur inside
a scalar, so this is exact), and every document is parsed on its own. A document that no
customisation touched is written back byte for byte as upstream has it, comments included; a
changed one is edited in place, line by line (see ``patch``), or when that is not possible
written from its parsed form by a fixed dumper (keys in their original order, sequences
indented, multi-line strings as literal blocks) after the comment lines that led it upstream.
The same input therefore always gives the same bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import re
import traceback

from ansible_collections.k8snet.calico.plugins.module_utils.manifest import patch

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
    try:
        _Loader = yaml.CSafeLoader
    except AttributeError:  # PyYAML without libyaml
        _Loader = yaml.SafeLoader
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
    _Loader = None

_MARKER = re.compile(r'^---(?:[ \t]|$)')

# Kinds whose objects carry a pod template, and where it is.
POD_SPEC_PATHS = {
    'Pod': ('spec',),
    'DaemonSet': ('spec', 'template', 'spec'),
    'Deployment': ('spec', 'template', 'spec'),
    'StatefulSet': ('spec', 'template', 'spec'),
    'ReplicaSet': ('spec', 'template', 'spec'),
    'ReplicationController': ('spec', 'template', 'spec'),
    'Job': ('spec', 'template', 'spec'),
    'CronJob': ('spec', 'jobTemplate', 'spec', 'template', 'spec'),
}
CONTAINER_LISTS = ('initContainers', 'containers', 'ephemeralContainers')


class ManifestError(ValueError):
    """The manifest cannot be read, or lacks a structure that a customisation needs."""


if HAS_YAML:
    class Dumper(yaml.SafeDumper):
        """PyYAML's safe dumper, with indented sequences and literal blocks for multi-line
        strings. The pure-Python emitter is used whether or not libyaml is there, so that the
        output does not depend on how PyYAML was built."""

        def increase_indent(self, flow=False, indentless=False):
            return super(Dumper, self).increase_indent(flow, False)

    _STR_TAG = 'tag:yaml.org,2002:str'

    class QuotedDumper(Dumper):
        """Dumper for entries inserted into upstream's text: string values in double quotes,
        as upstream writes them (``value: "Always"``); keys and names stay plain."""

        quote_values = True

        def represent_mapping(self, tag, mapping, flow_style=None):
            node = super(QuotedDumper, self).represent_mapping(tag, {}, flow_style)
            for key, value in mapping.items():
                self.quoting = False
                key_node = self.represent_data(key)
                self.quoting = key != 'name'
                node.value.append((key_node, self.represent_data(value)))
            self.quoting = True
            node.flow_style = self.default_flow_style if flow_style is None else flow_style
            return node

    def _represent_str(dumper, data):
        style = None
        if '\n' in data:
            style = '|'
        elif getattr(dumper, 'quote_values', False) and getattr(dumper, 'quoting', True):
            style = '"'
        elif dumper.resolve(yaml.ScalarNode, data, (True, False)) != _STR_TAG:
            # A string that would read back as another type ("true", "0"): double quotes, as
            # upstream's manifests write them.
            style = '"'
        return dumper.represent_scalar(_STR_TAG, data, style=style)

    Dumper.add_representer(str, _represent_str)
    QuotedDumper.add_representer(str, _represent_str)
else:  # pragma: no cover
    Dumper = QuotedDumper = None


def dump_yaml(data, quoted=False):
    """One YAML document (without a ``---`` line), always the same bytes for the same data.
    ``quoted``: string values in double quotes (for entries inserted into upstream's text)."""
    return yaml.dump(data, Dumper=QuotedDumper if quoted else Dumper, default_flow_style=False,
                     sort_keys=False, allow_unicode=True, width=1 << 20, indent=2)


def _dump_quoted(data):
    return dump_yaml(data, quoted=True)


def load_yaml(text):
    return yaml.load(text, Loader=_Loader)


class Document:
    """One document of a stream: its text as read, its parsed data, and whether it changed."""

    def __init__(self, index, text, data, line):
        self.index = index
        self.text = text
        self.data = data
        self.line = line
        self.modified = False

    @property
    def kind(self):
        return self.data.get('kind') if isinstance(self.data, dict) else None

    @property
    def name(self):
        if not isinstance(self.data, dict):
            return None
        metadata = self.data.get('metadata')
        return metadata.get('name') if isinstance(metadata, dict) else None

    @property
    def namespace(self):
        if not isinstance(self.data, dict):
            return None
        metadata = self.data.get('metadata')
        return metadata.get('namespace') if isinstance(metadata, dict) else None

    def describe(self):
        return '%s %s' % (self.kind, self.name)

    def render(self):
        if not self.modified:
            return self.text
        patched = patch.patch_text(self.text, load_yaml(self.text), self.data, load_yaml, _dump_quoted, dump_yaml)
        if patched is not None:
            return patched
        # An edit in place was not possible: the document is written from its data, after the
        # comment lines that led it.
        lines = self.text.splitlines(True)
        head = []
        if lines and _MARKER.match(lines[0]):
            head.append('---\n')
            lines = lines[1:]
        for line in lines:
            if line.strip() and not line.lstrip().startswith('#'):
                break
            if line.strip():
                head.append(line if line.endswith('\n') else line + '\n')
        if self.data is None:
            return ''.join(head)
        return ''.join(head) + dump_yaml(self.data)


def split_stream(text):
    """(first line number, text) of every document of a YAML stream; the ``---`` line that opens
    a document belongs to it. Concatenated, the pieces are the stream."""
    pieces = []
    start, start_line = 0, 1
    position = 0
    for number, line in enumerate(text.splitlines(True), 1):
        if _MARKER.match(line) and position > start:
            pieces.append((start_line, text[start:position]))
            start, start_line = position, number
        position += len(line)
    if position > start or not pieces:
        pieces.append((start_line, text[start:]))
    return pieces


class Manifest:
    """The documents of a manifest, with look-ups by kind and name."""

    def __init__(self, text):
        if not HAS_YAML:  # pragma: no cover
            raise ManifestError('PyYAML is required')
        self.source = text
        self.sha256 = hashlib.sha256(text.encode('utf-8')).hexdigest()
        self.documents = []
        for index, (line, piece) in enumerate(split_stream(text)):
            try:
                data = load_yaml(piece)
            except yaml.YAMLError as exc:
                raise ManifestError('the manifest is not valid YAML (document starting at line %d): %s'
                                    % (line, exc))
            if data is not None and not isinstance(data, dict):
                raise ManifestError('document at line %d of the manifest is not a mapping' % line)
            self.documents.append(Document(index, piece, data, line))
        if not self.objects():
            raise ManifestError('the manifest holds no Kubernetes object')

    def objects(self):
        return [doc for doc in self.documents if isinstance(doc.data, dict) and doc.kind]

    def find(self, kind, name):
        for doc in self.documents:
            if doc.kind == kind and doc.name == name:
                return doc
        return None

    def require(self, kind, name, purpose):
        doc = self.find(kind, name)
        if doc is None:
            raise ManifestError('the manifest has no %s %r, needed to %s' % (kind, name, purpose))
        return doc

    def data(self):
        """Deep copies of the parsed documents that hold an object."""
        return [copy.deepcopy(doc.data) for doc in self.objects()]

    def render(self):
        return ''.join(doc.render() for doc in self.documents)


def pod_spec(doc):
    """The pod spec of a workload document, or None for other kinds."""
    path = POD_SPEC_PATHS.get(doc.kind)
    if not path:
        return None
    node = doc.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(spec):
    """Every container of a pod spec (init and ephemeral ones too)."""
    for key in CONTAINER_LISTS:
        for container in spec.get(key) or ():
            if isinstance(container, dict):
                yield key, container
