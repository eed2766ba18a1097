"""Fixtures shared by every test: the real test bed components and the rule for missing ones.

In CI (``CI=true``) a missing real component fails the test; elsewhere it skips with a loud
reason, so a developer without Go or BIRD still runs the fast tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
# The checkout seen as the collection k8snet.calico (scripts/env.sh makes the link).
_COLLECTIONS = Path(os.environ.get("K8SNET_VENV", REPO_ROOT / ".venv")) / "collections"
_LINK = _COLLECTIONS / "ansible_collections" / "k8snet" / "calico"
if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(REPO_ROOT)
sys.path.insert(0, str(_COLLECTIONS))

from testbed.procs import TestbedError  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"


def upstream_dir() -> Path:
    """Official Calico release files used as test data (never part of the repository)."""
    return Path(os.environ.get("CALICO_UPSTREAM_DIR", REPO_ROOT.parent / "shared" / "upstream"))


def cluster_inventory(workdir: Path, kubeconfig: Path, version: str = "v3.31.7", **overrides) -> dict:
    """The seed's inventory (as inventory/sample) for a test cluster: upstream's files of
    ``version`` from the test data as file:// URLs, the test's own cache and render folders, the
    cluster's kubeconfig. ``overrides`` replace or add variables."""
    variables = {
        "calico_version": version,
        "calico_manifest_base_url": f"file://{upstream_dir()}/calico/{{{{ calico_version }}}}",
        "calico_manifest_cache_dir": str(workdir / "cache"),
        "calico_render_dir": str(workdir / "rendered"),
        "calico_kubeconfig": str(kubeconfig),
        "calico_context": "testbed",
        "calico_image_registry": "registry.example.internal",
        "calico_pod_cidr": "10.244.0.0/16",
        "calico_ip_autodetection_method": "interface=bond4,eth0",
        "calico_encapsulation": "IPIP",
        "calico_bgp_as_number": 64512,
        "calico_bgp_node_mesh": False,
        "calico_bgp_service_cluster_ips": ["10.96.0.0/12"],
        "calico_bgp_peers": [{"name": "tor-switch", "peer_ip": "10.10.0.1", "as_number": 64513}],
        "calico_ip_pools": [{"name": "default-ipv4-ippool", "cidr": "10.244.0.0/16", "block_size": 26,
                             "nat_outgoing": False}],
        "calico_rollout_timeout": 60,
        "calico_rollout_poll_interval": 1,
    }
    variables.update(overrides)
    return variables


@contextlib.contextmanager
def own_cluster(tmp_path_factory, name: str, *releases: str):
    """A test cluster of a test module's own (it rewrites cluster-wide objects), once the Calico
    release files the module needs are known to be in the test data (missing: fail in CI)."""
    from testbed.cluster import TestCluster
    for release in releases:
        if release not in calico_releases():
            missing_component(f"Calico {release} release files in {upstream_dir()}")
    with TestCluster(tmp_path_factory.mktemp(name)) as running:
        yield running


class UpgradeBed:
    """A test cluster on which a test installed Calico, the test's folder and calicoctl:
    playbooks/upgrade.yml runs with cluster_inventory(), ``base_vars`` and the run's overrides."""
    base_vars: dict = {"calicoctl_install": False}
    target = "v3.31.7"

    def __init__(self, cluster, workdir: Path, calicoctl):
        self.cluster, self.workdir, self.calicoctl = cluster, workdir, calicoctl

    def vars(self, version: str | None = None, **overrides) -> dict:
        return cluster_inventory(self.workdir, self.cluster.kubeconfig, version or self.target,
                                 **{**self.base_vars, **overrides})

    def upgrade(self, name: str, version: str | None = None, check: bool = False, **overrides):
        from playbook import REPO_ROOT, run_playbook_file
        return run_playbook_file(self.workdir, REPO_ROOT / "playbooks" / "upgrade.yml", name=name, check=check,
                                 diff=check, extra_vars=self.vars(version, **overrides))

    def get(self, path: str) -> dict:
        return self.cluster.request("GET", path)

    def backup_folders(self) -> list[Path]:
        base = self.workdir / "calico-backups"
        return sorted(base.iterdir()) if base.is_dir() else []


def calico_releases() -> list[str]:
    base = upstream_dir() / "calico"
    return sorted(p.name for p in base.glob("v*") if (p / "calico.yaml").is_file()) if base.is_dir() else []


def missing_component(what: str) -> None:
    """A real component is unavailable: fail in CI, skip loudly elsewhere."""
    if IN_CI:
        pytest.fail(f"real component missing in CI: {what}", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: real component missing outside CI: {what}")


def pytest_configure(config):
    for marker, text in {
        "cluster": "needs the test cluster (kube-apiserver, controllers, kwok nodes built from Go modules)",
        "etcd": "needs a real etcd built from its Go module",
        "calicoctl": "needs calicoctl built from the Calico Go module",
        "bgplab": "needs real BIRD daemons in network namespaces (root, iproute2, Debian package bird)",
        "playbook": "runs ansible-playbook",
    }.items():
        config.addinivalue_line("markers", f"{marker}: {text}")


@pytest.fixture(scope="session")
def testbed_bin() -> Path:
    from testbed.binaries import bin_dir
    try:
        return bin_dir()
    except TestbedError as err:
        missing_component(str(err))


@pytest.fixture(scope="session")
def cluster(testbed_bin, tmp_path_factory):
    """One test cluster for the session: 3 kwok nodes, admin kubeconfig at ``cluster.kubeconfig``."""
    from testbed.cluster import TestCluster
    with TestCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="session")
def calico_crds(cluster):
    """The upstream CRDs of the newest release in the test data, applied once."""
    releases = calico_releases()
    if not releases:
        missing_component(f"upstream Calico release files in {upstream_dir()}")
    crds = upstream_dir() / "calico" / releases[-1] / "crds.yaml"
    cluster.kubectl("apply", "--server-side", "-f", str(crds))
    cluster.wait_crds_established()
    return releases[-1]


@pytest.fixture
def etcd_server(testbed_bin, tmp_path):
    """A fresh etcd for the Calico etcdv3 datastore (plain HTTP)."""
    from testbed.etcd import EtcdServer
    from testbed.procs import Supervisor
    supervisor = Supervisor(tmp_path / "etcd-state.json")
    try:
        yield EtcdServer(tmp_path, supervisor).start()
    finally:
        supervisor.stop_all()


@pytest.fixture
def etcd_tls_server(testbed_bin, tmp_path):
    """A fresh etcd that requires client certificates."""
    from testbed.etcd import EtcdServer
    from testbed.procs import Supervisor
    supervisor = Supervisor(tmp_path / "etcd-state.json")
    try:
        yield EtcdServer(tmp_path, supervisor, tls=True, name="etcd-tls").start()
    finally:
        supervisor.stop_all()


class Calicoctl:
    """The real calicoctl, the reference for what the collection must store."""

    def __init__(self, binary: Path, env: dict[str, str]):
        self.binary = binary
        self.env = env

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.binary), *args], input=input, capture_output=True, text=True,
                                env={**os.environ, **self.env}, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"calicoctl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture
def calicoctl_k8s(testbed_bin, cluster, calico_crds) -> Calicoctl:
    return Calicoctl(testbed_bin / "calicoctl",
                     {"DATASTORE_TYPE": "kubernetes", "KUBECONFIG": str(cluster.kubeconfig)})


@pytest.fixture
def calicoctl_etcd(testbed_bin, etcd_server) -> Calicoctl:
    return Calicoctl(testbed_bin / "calicoctl", etcd_server.env())


@pytest.fixture(scope="session")
def bird_available() -> None:
    from testbed.bgplab import missing_prerequisites
    missing = missing_prerequisites()
    if missing:
        missing_component("BGP lab: " + "; ".join(missing))
