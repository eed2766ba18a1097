# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upstream release files the unit tests read (never copied into the repository), and this
checkout importable as ansible_collections.k8snet.calico.

Not a conftest.py: tests/conftest.py is imported as ``conftest`` by tests that use its helpers,
and a second conftest module here would shadow it.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(os.environ.get('K8SNET_VENV') or os.path.join(REPO, '.venv'), 'collections')
UPSTREAM = os.environ.get('CALICO_UPSTREAM_DIR') or os.path.join(REPO, '..', 'shared', 'upstream')

_LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'k8snet', 'calico')
if not os.path.exists(_LINK):
    # The link scripts/env.sh (ensure_venv) makes.
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(REPO, _LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


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
