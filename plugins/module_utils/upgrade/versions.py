# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Calico and Kubernetes versions: which upgrade paths upstream supports, and which Kubernetes
releases each Calico minor release is tested against.

Sources (Calico's documentation, github.com/tigera/docs, calico_versioned_docs/version-3.X/):
- operations/upgrading/kubernetes-upgrade.mdx, "About upgrading Calico", in every release from
  v3.29 to v3.32: "This page describes how to upgrade to <version> from Calico v3.15 or later."
  Upstream names no other limit (no maximum number of minor releases skipped); a downgrade is no
  upgrade path at all, and a new major release would have a guide of its own.
- _includes/partials/_system-requirements.mdx, "Kubernetes requirements / Supported versions"
  (https://docs.tigera.io/calico/3.X/getting-started/kubernetes/requirements): "We test Calico
  <version> against the following Kubernetes versions. Other versions may work, but we are not
  actively testing them." The lists are KUBERNETES_TESTED below.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_VERSION = re.compile(r'^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$')

# Calico minor release -> the Kubernetes minor releases upstream tests it against (see above).
KUBERNETES_TESTED = {
    (3, 29): ((1, 29), (1, 30), (1, 31), (1, 32)),
    (3, 30): ((1, 31), (1, 32), (1, 33), (1, 34), (1, 35)),
    (3, 31): ((1, 32), (1, 33), (1, 34), (1, 35)),
    (3, 32): ((1, 34), (1, 35), (1, 36)),
}
REQUIREMENTS_URL = 'https://docs.tigera.io/calico/%d.%d/getting-started/kubernetes/requirements'

# Target major release -> the oldest release an upgrade to it may start from (see above).
OLDEST_UPGRADE_SOURCE = {3: (3, 15, 0)}
UPGRADE_GUIDE_URL = 'https://docs.tigera.io/calico/%d.%d/operations/upgrading/kubernetes-upgrade'


class VersionError(ValueError):
    """A text that is not a version."""


def parse(text):
    """(major, minor, patch, pre-release) of 'v3.31.7', '3.31', 'v1.34.4+k3s1', 'v3.32.0-1.dev';
    VersionError otherwise. The pre-release is '' for a release; build metadata (+...) is ignored."""
    match = _VERSION.match(str(text).strip()) if text is not None else None
    if not match:
        raise VersionError('%r is not a version (vMAJOR.MINOR.PATCH)' % (text,))
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0), match.group(4) or '')


def key(version):
    """A sort key: a pre-release (v3.31.0-0.dev) comes before its release (v3.31.0)."""
    major, minor, patch, pre = parse(version) if isinstance(version, str) else version
    return (major, minor, patch, 0 if pre else 1)


def compare(a, b):
    """-1, 0 or 1 as release ``a`` is older than, the same as or newer than ``b``."""
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)


def show(version):
    major, minor, patch, _pre = parse(version) if isinstance(version, str) else version
    return 'v%d.%d.%d' % (major, minor, patch)


def image_tag(image):
    """The tag of an image reference (registry/path/name:tag[@digest]), or '' when it has none."""
    if not isinstance(image, str):
        return ''
    name = image.split('@', 1)[0]
    last = name.rsplit('/', 1)[-1]
    return last.rsplit(':', 1)[1] if ':' in last else ''


def running_version(node_images, cluster_version):
    """The release that runs: (version, source, note).

    ``node_images``: images of the calico-node container (and others of the DaemonSet);
    ``cluster_version``: ClusterInformation default spec.calicoVersion, or None.
    The DaemonSet's image tag is what the cluster is told to run (calico-node writes
    ClusterInformation when it starts, so it lags behind a rollout); ClusterInformation is the
    fallback when the tag is no version (a digest, a site's own tag). A disagreement is noted.
    """
    tags = []
    for image in node_images or ():
        tag = image_tag(image)
        try:
            parse(tag)
            tags.append(tag)
        except VersionError:
            pass
    cluster = None
    if cluster_version:
        try:
            parse(cluster_version)
            cluster = cluster_version
        except VersionError:
            cluster = None
    if tags:
        version = tags[0]
        note = ''
        if cluster and compare(cluster, version) != 0:
            note = ('ClusterInformation default says %s but calico-node runs the image of %s: calico-node has not '
                    'restarted on it yet (a rollout in progress, or an earlier upgrade that did not finish)'
                    % (cluster, version))
        return version, 'calico-node image tag', note
    if cluster:
        return cluster, 'ClusterInformation default spec.calicoVersion', ''
    return None, '', ''


def check_path(current, target):
    """The refusals of an upgrade from release ``current`` to ``target``: a list of
    (code, message), code 'downgrade' or 'upgrade_path'. Empty: upstream supports it."""
    refusals = []
    c, t = parse(current), parse(target)
    order = compare(c, t)
    if order > 0:
        refusals.append(('downgrade', 'the cluster runs Calico %s, newer than calico_version %s: a downgrade is not an '
                                      'upgrade path upstream supports (CRDs, stored resources and the datastore '
                                      'may have been converted by the newer release)' % (current, target)))
        return refusals
    if c[0] != t[0]:
        refusals.append(('upgrade_path', 'Calico %s -> %s crosses a major release: upstream documents upgrades within '
                                         'major release %d only' % (current, target, t[0])))
        return refusals
    oldest = OLDEST_UPGRADE_SOURCE.get(t[0])
    if oldest and compare(c, oldest + ('',)) < 0:
        refusals.append(('upgrade_path', 'upstream supports upgrading to %s from Calico v%d.%d.%d or later only '
                                         '(%s); the cluster runs %s: upgrade in steps'
                                         % (target, oldest[0], oldest[1], oldest[2],
                                            UPGRADE_GUIDE_URL % (t[0], t[1]), current)))
    return refusals


def check_kubernetes(target, kubernetes_version):
    """(refusal, warning, tested) for Calico ``target`` on a cluster of ``kubernetes_version``.

    refusal: (code 'kubernetes_version', message) when upstream's table for the target's minor
    release does not list the cluster's minor release; warning: a text when there is no table for
    the target (a release newer than this collection knows) or the cluster's version is unknown;
    tested: the list of tested Kubernetes minors ('1.32', ...) or [].
    """
    t = parse(target)
    tested = KUBERNETES_TESTED.get((t[0], t[1]))
    if tested is None:
        known = sorted(KUBERNETES_TESTED)
        return None, ('this collection has no table of the Kubernetes releases Calico %d.%d is tested against '
                      '(it knows %s); check %s yourself' % (t[0], t[1], ', '.join('%d.%d' % k for k in known),
                                                            REQUIREMENTS_URL % (t[0], t[1]))), []
    names = ['%d.%d' % k for k in tested]
    if not kubernetes_version:
        return None, 'the Kubernetes version of the cluster is unknown: not checked against %s' % ', '.join(names), names
    try:
        k = parse(kubernetes_version)
    except VersionError:
        return None, ('the Kubernetes version %r of the cluster is not a version: not checked against %s'
                      % (kubernetes_version, ', '.join(names))), names
    if (k[0], k[1]) not in tested:
        return ('kubernetes_version', 'Calico %d.%d is tested against Kubernetes %s only (%s); the cluster runs %s'
                % (t[0], t[1], ', '.join(names), REQUIREMENTS_URL % (t[0], t[1]), kubernetes_version)), None, names
    return None, None, names
