# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upstream release files the unit tests read (never copied into the repository), and small
builders of test resources. (tests/conftest.py makes the checkout importable as the collection.)

Not a conftest.py: tests/conftest.py is imported as ``conftest`` by tests that use its helpers,
and a second conftest module here would shadow it.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UPSTREAM = os.environ.get('CALICO_UPSTREAM_DIR') or os.path.join(REPO, '..', 'shared', 'upstream')


def releases():
    """Release folders of the upstream files (v3.28.5, ...) that hold a calico.yaml."""
    base = os.path.join(UPSTREAM, 'calico')
    found = sorted(name for name in os.listdir(base) if name.startswith('v')
                   and os.path.isfile(os.path.join(base, name, 'calico.yaml'))) if os.path.isdir(base) else []
    # No release is a failure of every test that needs one, not a silent skip.
    return found or ['(no release under %s)' % base]


def upstream_file(release, name):
    return os.path.join(UPSTREAM, 'calico', release, name)


def read_upstream(release, name):
    with open(upstream_file(release, name)) as handle:
        return handle.read()


UID = '8365bb83-358c-4a2b-bc15-9d5d2d1df8b5'
TS = '2026-11-25T16:22:21Z'


def res(kind, name, spec=None, **metadata):
    """A projectcalico.org/v3 resource."""
    resource = {'apiVersion': 'projectcalico.org/v3', 'kind': kind, 'metadata': dict(name=name, **metadata)}
    if spec is not None:
        resource['spec'] = spec
    return resource
