"""A BGP lab of real BIRD 1.6 daemons in Linux network namespaces.

The lab is a test fixture, not part of the collection.  It builds:

* one "switch" namespace holding a Linux bridge (the shared L2 segment);
* one namespace per router, joined to the bridge by a veth pair whose
  router end is called ``eth0``;
* one ``bird`` daemon per router, with its own config, log and control
  socket in a per-router run directory under the lab's temp directory.

Every interface and address lives inside a namespace the lab created; the
namespaces have no link to the host and no default route, so nothing a lab
does can reach any other network.

Configs of ``kind="node"`` routers are shaped like the ones calico-node's
confd writes (BIRD 1.x syntax, protocol names ``Mesh_<ip>``, ``Global_<ip>``,
``Node_<ip>``, a ``bgp_template``, ``calico_export_to_bgp_peers`` filter, a
``protocol static`` with a blackhole route per pod block), so that
``birdc show protocols`` looks the way ``calicoctl node status`` expects.
They are generated here from scratch; no Calico text is reused.

Nothing is installed by this module: see :func:`missing_prerequisites`.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_SUBNET",
    "DEFAULT_POOL",
    "NODE_ASN",
    "TOR_ASN",
    "CALICO_TIMERS",
    "FAST_TIMERS",
    "BgpLab",
    "BgpLabError",
    "BgpLabTimeout",
    "Router",
    "cleanup_stale",
    "list_labs",
    "missing_prerequisites",
    "protocol_name",
    "parse_show_protocols",
]

DEFAULT_PREFIX = "bgpl"
DEFAULT_SUBNET = "172.31.254.0/24"
DEFAULT_POOL = "10.244.0.0/16"
NODE_ASN = 64512  # Calico's default AS number
TOR_ASN = 65001

_SBIN_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]
)
_ROUTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_UNIX_PATH_MAX = 107
_PEER_KEYS = {
    "name",
    "address",
    "asn",
    "type",
    "route_reflector_client",
    "passive",
    "port",
}
_PEER_TYPES = {"global": "Global", "node": "Node", "mesh": "Mesh"}

# Timers: far lower than BIRD's and Calico's defaults so sessions come up
# in a second or two and a removed peer is noticed quickly.
FAST_TIMERS = {
    "connect delay time": "1",
    "connect retry time": "1",
    "error wait time": "1,5",
    "hold time": "9",
    "keepalive time": "3",
}


# calico-node's own values, for a test that wants realistic (slow) timing.
CALICO_TIMERS = {
    "connect delay time": "2",
    "connect retry time": "5",
    "error wait time": "5,30",
}


class BgpLabError(RuntimeError):
    """Anything that went wrong building, driving or tearing down a lab."""


class BgpLabTimeout(BgpLabError, TimeoutError):
    """A wait ran out; the message carries the last output seen."""


# --------------------------------------------------------------------------
# prerequisites
# --------------------------------------------------------------------------


def _which(cmd: str) -> str | None:
    return shutil.which(cmd, path=_SBIN_PATH)


def bird_version(binary: str | None = None) -> str | None:
    """The version printed by ``bird --version`` (e.g. ``"1.6.8"``), or None."""
    binary = binary or _which("bird")
    if not binary:
        return None
    try:
        res = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"BIRD version (\S+)", res.stdout + res.stderr)
    return m.group(1) if m else None


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run a lab; an empty list means "ready".

    Each entry names the missing thing and how to get it on Debian.
    """
    missing = []
    if os.geteuid() != 0:
        missing.append("root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    if not _which("ip"):
        missing.append("ip (Debian package iproute2)")
    if not Path("/proc/self/ns/net").exists():
        missing.append("network namespaces (kernel without CONFIG_NET_NS)")
    bird = _which("bird")
    if not bird:
        missing.append("bird (BIRD 1.6, Debian package bird)")
    else:
        version = bird_version(bird)
        if not version or not version.startswith("1."):
            missing.append(
                f"bird (BIRD 1.6 needed, {bird} is BIRD {version or '?'}; "
                "Debian package bird, which conflicts with bird2)"
            )
    if not _which("birdc"):
        missing.append("birdc (Debian package bird)")
    return missing


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _run(args: list[str], *, check: bool = True, timeout: float = 30) -> str:
    env = dict(os.environ, PATH=_SBIN_PATH)
    try:
        res = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BgpLabError(f"{' '.join(args)} timed out after {timeout}s") from exc
    if check and res.returncode != 0:
        raise BgpLabError(
            f"{' '.join(args)} failed ({res.returncode}): "
            f"{(res.stderr or res.stdout).strip()}"
        )
    return res.stdout


def _netns_list() -> list[str]:
    try:
        out = _run(["ip", "netns", "list"], check=False)
    except (BgpLabError, OSError):
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _netns_pids(ns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces; fields after ")" are fixed
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    return _proc_start_time(pid) is not None


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def protocol_name(peer_type: str, address: str, port: int | None = None) -> str:
    """The protocol name calico-node's confd gives a peering.

    ``peer_type`` is ``mesh``, ``global`` or ``node``; the IP's dots (or an
    IPv6 address's colons) become underscores, and a non-default port adds
    ``_port_<n>``.  ``calicoctl node status`` maps the prefixes back to
    "node-to-node mesh", "global" and "node specific".
    """
    try:
        prefix = _PEER_TYPES[peer_type]
    except KeyError:
        raise ValueError(
            f"peer type must be one of {sorted(_PEER_TYPES)}, not {peer_type!r}"
        ) from None
    name = f"{prefix}_{re.sub(r'[.:]', '_', address)}"
    if port and peer_type != "mesh":
        name += f"_port_{port}"
    return name


def parse_show_protocols(text: str) -> list[dict]:
    """Parse ``birdc show protocols [all]`` text (BIRD 1.6) into dicts.

    Keys: name, proto, table, state, since, info (the rest of the row) and,
    from ``show protocols all``, bgp_state, neighbor_address, neighbor_as.
    """
    protocols: list[dict] = []
    current: dict | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("BIRD ") or line.startswith("name "):
            continue
        if not line[0].isspace():
            cols = line.split()
            if len(cols) < 5:
                current = None
                continue
            current = {
                "name": cols[0],
                "proto": cols[1],
                "table": cols[2],
                "state": cols[3],
                "since": cols[4],
                "info": " ".join(cols[5:]),
            }
            protocols.append(current)
            continue
        if current is None or ":" not in line:
            continue
        key, dummy, value = line.strip().partition(":")
        key = key.strip().lower()
        value = value.strip()
        if key == "bgp state":
            current["bgp_state"] = value
        elif key == "neighbor address":
            current["neighbor_address"] = value
        elif key == "neighbor as":
            current["neighbor_as"] = int(value) if value.isdigit() else value
    return protocols


# --------------------------------------------------------------------------
# the lab
# --------------------------------------------------------------------------


@dataclass
class Router:
    name: str
    address: str
    asn: int
    kind: str  # "node" or "tor"
    index: int
    netns: str
    run_dir: Path
    pod_blocks: list[str] = field(default_factory=list)
    rr_cluster_id: str | None = None
    peers: list[dict] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "bird.ctl"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "bird.cfg"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "bird.log"


_LIVE_LABS: "weakref.WeakSet[BgpLab]" = weakref.WeakSet()


@atexit.register
def _stop_live_labs() -> None:  # pragma: no cover - interpreter shutdown
    for lab in list(_LIVE_LABS):
        try:
            lab.stop()
        except Exception:
            pass


class BgpLab:
    """A lab of BIRD routers on one L2 segment; use it as a context manager.

    >>> with BgpLab() as lab:
    ...     lab.add_router("tor", kind="tor")
    ...     lab.add_router("node-1")
    ...     lab.set_peers("tor", [{"name": "node-1"}])
    ...     lab.set_peers("node-1", [{"name": "tor"}])
    ...     lab.wait_established("node-1", ["tor"])

    Routers and peers may be added before or after the lab starts; after
    the start, changes take effect at once (``birdc configure``).
    """

    def __init__(
        self,
        subnet: str = DEFAULT_SUBNET,
        *,
        pool: str = DEFAULT_POOL,
        prefix: str = DEFAULT_PREFIX,
        timers: dict[str, str] | None = None,
        tmp_root: str | os.PathLike | None = None,
    ):
        if not _PREFIX_RE.match(prefix):
            raise ValueError("prefix: 1-8 lowercase letters/digits, letter first")
        self.subnet = ipaddress.ip_network(subnet)
        if self.subnet.version != 4:
            raise ValueError("only IPv4 segments are supported")
        self.pool = ipaddress.ip_network(pool)
        self.prefix = prefix
        self.timers = dict(FAST_TIMERS if timers is None else timers)
        self.tmp_root = Path(tmp_root or tempfile.gettempdir())
        self.lab_id: str | None = None
        self.dir: Path | None = None
        self.switch_netns: str | None = None
        self.routers: dict[str, Router] = {}
        self._hosts = iter(self.subnet.hosts())
        self._started = False
        self._stopped = False

    # ---- life cycle -----------------------------------------------------

    def __enter__(self) -> "BgpLab":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
            return
        try:
            self.stop()
        except Exception as teardown_error:  # keep the test's own error
            import warnings

            warnings.warn(f"BGP lab teardown failed: {teardown_error}")

    @property
    def started(self) -> bool:
        return self._started and not self._stopped

    def start(self) -> "BgpLab":
        """Create the segment and start every router added so far."""
        if self._stopped:
            raise BgpLabError("a stopped lab cannot be restarted; make a new one")
        if self._started:
            return self
        self._claim_id()
        _LIVE_LABS.add(self)
        self._started = True
        try:
            _run(["ip", "netns", "add", self.switch_netns])
            sw = ["ip", "-n", self.switch_netns]
            _run(sw + ["link", "set", "lo", "up"])
            _run(sw + ["link", "add", "br0", "type", "bridge"])
            _run(sw + ["link", "set", "br0", "up"])
            for router in self.routers.values():
                self._build_router(router)
            for router in self.routers.values():
                self._start_bird(router)
        except BaseException:
            try:
                self.stop()
            except BgpLabError:
                pass
            raise
        return self

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after failures."""
        if self._stopped or not self._started:
            self._stopped = True
            _LIVE_LABS.discard(self)
            return
        self._stopped = True
        _LIVE_LABS.discard(self)
        errors = []
        for router in self.routers.values():
            proc = router.process
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            router.process = None
        errors += _remove_lab(self.lab_id, self.tmp_root)
        if errors:
            raise BgpLabError("teardown incomplete: " + "; ".join(errors))

    def _claim_id(self) -> None:
        existing = {ns.split("-", 1)[0] for ns in _netns_list()}
        for dummy in range(100):
            lab_id = f"{self.prefix}{os.urandom(2).hex()}"
            if lab_id in existing:
                continue
            path = self.tmp_root / lab_id
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                continue
            pid = os.getpid()
            (path / "owner").write_text(f"{pid} {_proc_start_time(pid)}\n")
            self.lab_id, self.dir = lab_id, path
            self.switch_netns = f"{lab_id}-sw"
            for router in self.routers.values():
                self._place(router)
            return
        raise BgpLabError("could not find a free lab id")

    def _place(self, router: Router) -> None:
        router.netns = f"{self.lab_id}-{router.name}"
        router.run_dir = self.dir / router.name
        if len(str(router.socket_path)) > _UNIX_PATH_MAX:
            raise BgpLabError(f"socket path too long: {router.socket_path}")

    # ---- routers --------------------------------------------------------

    def add_router(
        self,
        name: str,
        address: str | None = None,
        asn: int | None = None,
        kind: str = "node",
        *,
        pod_blocks: Iterable[str] | None = None,
        rr_cluster_id: str | None = None,
    ) -> Router:
        """Add a router; returns its record.

        ``address`` defaults to the next free host of the segment; ``asn``
        to 64512 for nodes, 65001 for a TOR.  A node announces
        ``pod_blocks`` (default ``10.244.<n>.0/26`` for the n-th node) as
        blackhole static routes, like calico-node does for its IPAM blocks.
        ``rr_cluster_id`` makes a node a route reflector.
        """
        if self._stopped:
            raise BgpLabError("lab is stopped")
        if not _ROUTER_NAME_RE.match(name) or name == "sw":
            raise ValueError(f"bad router name {name!r}")
        if name in self.routers:
            raise ValueError(f"router {name!r} exists")
        if kind not in ("node", "tor"):
            raise ValueError("kind must be 'node' or 'tor'")
        if address is None:
            used = {r.address for r in self.routers.values()}
            address = next(str(a) for a in self._hosts if str(a) not in used)
        addr = ipaddress.ip_address(address)
        if addr not in self.subnet or addr in (
            self.subnet.network_address,
            self.subnet.broadcast_address,
        ):
            raise ValueError(f"{address} is not a host address of {self.subnet}")
        if any(r.address == str(addr) for r in self.routers.values()):
            raise ValueError(f"address {address} is taken")
        if asn is None:
            asn = NODE_ASN if kind == "node" else TOR_ASN
        index = len(self.routers) + 1
        if pod_blocks is None:
            n_nodes = sum(1 for r in self.routers.values() if r.kind == "node")
            pod_blocks = [self._default_block(n_nodes + 1)] if kind == "node" else []
        router = Router(
            name=name,
            address=str(addr),
            asn=int(asn),
            kind=kind,
            index=index,
            netns="",
            run_dir=Path(),
            pod_blocks=[str(ipaddress.ip_network(b)) for b in pod_blocks],
            rr_cluster_id=rr_cluster_id,
        )
        self.routers[name] = router
        if self.lab_id:
            self._place(router)
        if self.started:
            self._build_router(router)
            self._start_bird(router)
        return router

    def _default_block(self, n: int) -> str:
        base = int(self.pool.network_address) + n * 256
        return str(ipaddress.ip_network((base, 26)))

    def router(self, name: str) -> Router:
        try:
            return self.routers[name]
        except KeyError:
            raise BgpLabError(f"no router {name!r} in this lab") from None

    def address(self, name: str) -> str:
        return self.router(name).address

    def socket_path(self, name: str) -> str:
        """The BIRD control socket of a router (``<run dir>/bird.ctl``)."""
        router = self.router(name)
        if not self.lab_id:
            raise BgpLabError("the lab has not started")
        return str(router.socket_path)

    def netns(self, name: str) -> str:
        return self.router(name).netns

    def exec(self, name: str, *cmd: str, check: bool = True) -> str:
        """Run a command inside a router's namespace; returns stdout."""
        return _run(["ip", "netns", "exec", self.netns(name), *cmd], check=check)

    def _build_router(self, router: Router) -> None:
        router.run_dir.mkdir(mode=0o700)
        veth = f"p{router.index}"  # switch side; only exists in the switch ns
        _run(["ip", "netns", "add", router.netns])
        rn = ["ip", "-n", router.netns]
        _run(rn + ["link", "set", "lo", "up"])
        _run(
            ["ip", "-n", self.switch_netns, "link", "add", veth, "type", "veth",
             "peer", "name", "eth0", "netns", router.netns]
        )
        _run(["ip", "-n", self.switch_netns, "link", "set", veth, "master", "br0"])
        _run(["ip", "-n", self.switch_netns, "link", "set", veth, "up"])
        _run(rn + ["addr", "add", f"{router.address}/{self.subnet.prefixlen}",
                   "dev", "eth0"])
        _run(rn + ["link", "set", "eth0", "up"])

    def _start_bird(self, router: Router) -> None:
        self._write_config(router)
        parse = subprocess.run(
            ["bird", "-p", "-c", str(router.config_path)], capture_output=True,
            text=True, timeout=30, env=dict(os.environ, PATH=_SBIN_PATH), check=False,
        )
        if parse.returncode != 0:
            raise BgpLabError(
                f"BIRD rejects the config of {router.name} "
                f"({router.config_path}): {(parse.stderr + parse.stdout).strip()}"
            )
        out = router.run_dir / "bird.out"
        with open(out, "wb") as fh:
            router.process = subprocess.Popen(
                ["ip", "netns", "exec", router.netns, "bird", "-f",
                 "-c", str(router.config_path), "-s", str(router.socket_path),
                 "-P", str(router.run_dir / "bird.pid")],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=dict(os.environ, PATH=_SBIN_PATH),
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if router.process.poll() is not None:
                raise BgpLabError(
                    f"bird of {router.name} exited ({router.process.returncode}): "
                    f"{out.read_text(errors='replace')}"
                )
            if router.socket_path.exists():
                try:
                    self.query_socket(router.name, "show status")
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise BgpLabTimeout(f"bird of {router.name} did not open its socket")

    # ---- configuration --------------------------------------------------

    def set_peers(self, name: str, peers: Iterable[dict]) -> None:
        """Replace a router's BGP peers; reconfigures BIRD if running.

        Each peer is a dict with ``name`` (a lab router; fills address and
        asn) and/or ``address`` and ``asn``, and optionally ``type``
        (node routers: ``global`` (default), ``node`` or ``mesh``: the
        Calico protocol name prefix), ``route_reflector_client`` (needs this
        router's ``rr_cluster_id`` and the same AS), ``passive``, ``port``.
        """
        router = self.router(name)
        resolved = [self._resolve_peer(router, dict(p)) for p in peers]
        names = [self._proto_name(router, p) for p in resolved]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate peerings: {sorted(dupes)}")
        router.peers = resolved
        self._reconfigure(router)

    def set_rr_cluster_id(self, name: str, cluster_id: str | None) -> None:
        """Make a node a route reflector (or not); reconfigures if running."""
        router = self.router(name)
        if cluster_id is not None:
            ipaddress.IPv4Address(cluster_id)
        if cluster_id is None and any(
            p["route_reflector_client"] for p in router.peers
        ):
            raise ValueError("router still has route_reflector_client peers")
        router.rr_cluster_id = cluster_id
        self._reconfigure(router)

    def set_node(self, name: str, *, peers: Iterable[dict], rr_cluster_id: str | None) -> None:
        """Replace a node's peers and route reflector cluster ID in one reconfiguration (what
        calico-node's confd does when it rewrites bird.cfg)."""
        router = self.router(name)
        if rr_cluster_id is not None:
            ipaddress.IPv4Address(rr_cluster_id)
        previous = router.rr_cluster_id
        router.rr_cluster_id = rr_cluster_id
        try:
            resolved = [self._resolve_peer(router, dict(p)) for p in peers]
            names = [self._proto_name(router, p) for p in resolved]
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise ValueError(f"duplicate peerings: {sorted(dupes)}")
        except ValueError:
            router.rr_cluster_id = previous
            raise
        router.peers = resolved
        self._reconfigure(router)

    def set_pod_blocks(self, name: str, blocks: Iterable[str]) -> None:
        """Replace the blocks a node announces; reconfigures if running."""
        router = self.router(name)
        router.pod_blocks = [str(ipaddress.ip_network(b)) for b in blocks]
        self._reconfigure(router)

    def mesh_peers(self, name: str) -> list[dict]:
        """The node-to-node mesh peers confd would give a node.

        Every other node except route reflectors (a route reflector gets
        none), passive towards peers whose address sorts higher, compared
        as text the way the confd template does.
        """
        me = self.router(name)
        if me.kind != "node" or me.rr_cluster_id:
            return []
        return [
            {"name": r.name, "type": "mesh", "passive": r.address > me.address}
            for r in self.routers.values()
            if r.kind == "node" and r is not me and not r.rr_cluster_id
        ]

    def _resolve_peer(self, router: Router, peer: dict) -> dict:
        unknown = set(peer) - _PEER_KEYS
        if unknown:
            raise ValueError(f"unknown peer keys {sorted(unknown)}")
        if "name" in peer:
            other = self.router(peer["name"])
            peer.setdefault("address", other.address)
            peer.setdefault("asn", other.asn)
            if peer["address"] != other.address:
                raise ValueError(f"{peer['name']} has address {other.address}")
        if "address" not in peer or "asn" not in peer:
            raise ValueError("a peer needs a lab router name or address and asn")
        peer["address"] = str(ipaddress.IPv4Address(peer["address"]))
        if peer["address"] == router.address:
            raise ValueError(f"{router.name} cannot peer with itself")
        peer["asn"] = int(peer["asn"])
        peer.setdefault("type", "global")
        if peer["type"] not in _PEER_TYPES:
            raise ValueError(f"peer type must be one of {sorted(_PEER_TYPES)}")
        peer["route_reflector_client"] = bool(peer.get("route_reflector_client"))
        peer["passive"] = bool(peer.get("passive"))
        peer["port"] = int(peer["port"]) if peer.get("port") else None
        if peer["route_reflector_client"]:
            if not router.rr_cluster_id:
                raise ValueError(f"{router.name} has no rr_cluster_id")
            if peer["asn"] != router.asn:
                raise ValueError("route reflector clients must be in the same AS")
        return peer

    def _proto_name(self, router: Router, peer: dict) -> str:
        if router.kind == "node":
            return protocol_name(peer["type"], peer["address"], peer["port"])
        return "peer_" + peer["address"].replace(".", "_")

    def _reconfigure(self, router: Router) -> None:
        if not self.started or router.process is None:
            return
        self._write_config(router)
        out = self.birdc(router.name, "configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            raise BgpLabError(f"birdc configure on {router.name} failed:\n{out}")

    def render_config(self, name: str) -> str:
        """The BIRD 1.6 config text for a router (what start() writes)."""
        router = self.router(name)
        if router.kind == "node":
            return self._render_node(router)
        return self._render_tor(router)

    def _write_config(self, router: Router) -> None:
        tmp = router.config_path.with_suffix(".tmp")
        tmp.write_text(self.render_config(router.name))
        os.replace(tmp, router.config_path)

    def _timer_lines(self, indent: str = "  ") -> list[str]:
        return [f"{indent}{k} {v};" for k, v in self.timers.items()]

    def _render_node(self, r: Router) -> str:
        L = [
            f"# BIRD 1.6 config of lab node {r.name}, written by tests/testbed/bgplab.py",
            "# in the shape of calico-node's confd output (names, filters, template).",
            f'log "{r.log_path}" all;',
            f"router id {r.address};",
            "",
            "# Export this node's blocks themselves, never routes inside them.",
            "function calico_aggr ()",
            "{",
        ]
        for block in r.pod_blocks:
            L += [
                f"  # Block {block} is confirmed.",
                f"  if ( net = {block} ) then {{ accept; }}",
                f"  if ( net ~ {block} ) then {{ reject; }}",
            ]
        L += [
            "}",
            "",
            "function calico_export_to_bgp_peers(bool internal_peer) {",
            "  calico_aggr();",
            f"  if ( net ~ {self.pool} ) then {{",
            "    accept;",
            "  }",
            "}",
            "",
            "filter calico_kernel_programming {",
            "  accept;",
            "}",
            "",
            "protocol static {",
        ]
        if r.pod_blocks:
            L.append("   # IP blocks for this host.")
            L += [f"   route {b} blackhole;" for b in r.pod_blocks]
        else:
            L.append("   # No IP blocks or static routes for this host.")
        L += [
            "}",
            "",
            "# Routes go into the kernel table of this router's namespace only.",
            "protocol kernel {",
            "  learn;",
            "  scan time 2;",
            "  import all;",
            "  export filter calico_kernel_programming;",
            "  graceful restart;",
            "  merge paths on;",
            "}",
            "",
            "protocol device {",
            "  debug { states };",
            "  scan time 2;",
            "}",
            "",
            "protocol direct {",
            "  debug { states };",
            '  interface -"cali*", -"kube-ipvs*", "*";',
            "}",
            "",
            "template bgp bgp_template {",
            "  debug { states };",
            '  description "Connection to BGP peer";',
            f"  local as {r.asn};",
            "  gateway recursive;",
            "  add paths on;",
            "  graceful restart;",
            *self._timer_lines(),
            "}",
        ]
        sections = [
            ("mesh", "Node-to-node mesh"),
            ("global", "Global peers"),
            ("node", "Node-specific peers"),
        ]
        for peer_type, title in sections:
            L += ["", f"# ------------- {title} -------------"]
            chosen = [p for p in r.peers if p["type"] == peer_type]
            if peer_type == "mesh" and r.rr_cluster_id:
                L.append(
                    f"# This node is a route reflector with cluster ID "
                    f"{r.rr_cluster_id}; no mesh."
                )
                chosen = []
            if not chosen:
                L.append(f"# No {title.lower()} configured.")
            for p in chosen:
                L += self._render_node_peer(r, p)
        return "\n".join(L) + "\n"

    def _render_node_peer(self, r: Router, p: dict) -> list[str]:
        internal = "true" if p["asn"] == r.asn else "false"
        port = f"port {p['port']} " if p["port"] else ""
        L = [f"protocol bgp {self._proto_name(r, p)} from bgp_template {{"]
        if p["type"] == "mesh":
            L += [
                f"  neighbor {p['address']} {port}as {p['asn']};",
                f"  source address {r.address};",
                "  import all;",
                "  export filter {",
                f"    calico_export_to_bgp_peers({internal});",
                "    reject;",
                "  };",
            ]
        else:
            L += [
                "  ttl security off;",
                "  multihop;",
                f"  neighbor {p['address']} {port}as {p['asn']};",
                f"  source address {r.address};",
                "  import filter {",
                "    accept;",
                "  };",
                "  export filter {",
                f"    calico_export_to_bgp_peers({internal});",
                "    reject;",
                "  };",
            ]
        if p["route_reflector_client"]:
            L += ["  rr client;", f"  rr cluster id {r.rr_cluster_id};"]
        if p["passive"]:
            L.append("  passive on;")
        L.append("}")
        return L

    def _render_tor(self, r: Router) -> str:
        L = [
            f"# BIRD 1.6 config of lab TOR {r.name}, written by tests/testbed/bgplab.py",
            f'log "{r.log_path}" all;',
            f"router id {r.address};",
            "",
            "protocol device {",
            "  scan time 2;",
            "}",
            "",
            "protocol direct {",
            '  interface "*";',
            "}",
            "",
            "protocol static {",
        ]
        L += [f"  route {b} blackhole;" for b in r.pod_blocks]
        L += [
            "}",
            "",
            "template bgp tor_peer {",
            f"  local as {r.asn};",
            "  import all;",
            "  export all;",
            *self._timer_lines(),
            "}",
        ]
        for p in r.peers:
            port = f"port {p['port']} " if p["port"] else ""
            L += [
                "",
                f"protocol bgp {self._proto_name(r, p)} from tor_peer {{",
                f"  neighbor {p['address']} {port}as {p['asn']};",
                f"  source address {r.address};",
            ]
            if p["route_reflector_client"]:
                L += ["  rr client;", f"  rr cluster id {r.rr_cluster_id};"]
            if p["passive"]:
                L.append("  passive on;")
            L.append("}")
        return "\n".join(L) + "\n"

    # ---- talking to BIRD ------------------------------------------------

    def birdc(self, name: str, *args: str, timeout: float = 10) -> str:
        """Run ``birdc -s <socket> <args>`` and return its output text."""
        return _run(["birdc", "-s", self.socket_path(name), *args], timeout=timeout)

    def query_socket(self, name: str, command: str, timeout: float = 5) -> str:
        """Send one command on the control socket; return the raw reply.

        The reply keeps BIRD's reply codes (``0001``, ``2002-``, ``1002-``,
        continuation lines starting with a space, ``0000``), which is what
        calicoctl reads from ``/var/run/calico/bird.ctl``.
        """
        path = self.socket_path(name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            reader = sock.makefile("r", encoding="utf-8", errors="replace")
            hello = reader.readline()
            if not hello.startswith("0001"):
                raise BgpLabError(f"unexpected BIRD greeting {hello!r}")
            sock.sendall(command.encode() + b"\n")
            lines = []
            while True:
                line = reader.readline()
                if not line:
                    raise BgpLabError("BIRD closed the socket mid-reply")
                lines.append(line.rstrip("\n"))
                if re.match(r"^\d{4} ", line):
                    break
        return hello + "\n".join(lines) + "\n"

    def protocols(self, name: str) -> list[dict]:
        """Parsed ``show protocols all`` of a router."""
        return parse_show_protocols(self.birdc(name, "show protocols", "all"))

    def _addresses(self, names_or_addresses: Iterable[str]) -> list[str]:
        out = []
        for item in names_or_addresses:
            out.append(self.routers[item].address if item in self.routers else
                       str(ipaddress.ip_address(item)))
        return out

    def wait_established(
        self,
        name: str,
        peer_addresses: Iterable[str] | None = None,
        timeout: float = 30,
    ) -> float:
        """Wait until the sessions to these peers are Established.

        ``peer_addresses`` may hold addresses or lab router names; None
        means every BGP protocol the router has.  Returns the seconds
        waited; raises :class:`BgpLabTimeout` with the last
        ``show protocols all`` output.
        """
        wanted = None if peer_addresses is None else set(self._addresses(peer_addresses))
        start = time.monotonic()
        last = ""
        while True:
            try:
                last = self.birdc(name, "show protocols", "all")
            except BgpLabError as exc:
                last = str(exc)
            states = {
                p.get("neighbor_address"): p.get("bgp_state")
                for p in parse_show_protocols(last)
                if p["proto"] == "BGP"
            }
            targets = set(states) if wanted is None else wanted
            if targets and all(states.get(a) == "Established" for a in targets):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                missing = sorted(a for a in targets if states.get(a) != "Established")
                raise BgpLabTimeout(
                    f"{name}: sessions to {missing or 'any peer'} not Established "
                    f"after {timeout}s; last `show protocols all`:\n{last}"
                )
            time.sleep(0.2)

    def routes(self, name: str, prefix: str | None = None) -> str:
        """``show route [for PREFIX] all`` text of a router."""
        args = ["show", "route"] + (["for", prefix] if prefix else []) + ["all"]
        return self.birdc(name, *args)

    def route_prefixes(self, name: str) -> set[str]:
        """The prefixes of a router's table that have a usable route (``show route``; a
        blackhole counts, an unreachable route does not)."""
        prefixes = set()
        for line in self.birdc(name, "show", "route").splitlines():
            if not line.strip() or line[0].isspace() or line.startswith("BIRD "):
                continue
            cols = line.split()
            if len(cols) > 1 and cols[1] != "unreachable" and "/" in cols[0]:
                prefixes.add(cols[0])
        return prefixes

    def has_route(self, name: str, prefix: str, via: str | None = None) -> bool:
        """Whether the router's table holds exactly ``prefix`` (via a lab
        router name or protocol name, if given)."""
        prefix = str(ipaddress.ip_network(prefix))
        text = self.birdc(name, "show", "route", prefix)
        rows = [
            line for line in text.splitlines()
            if line.strip() and not line.startswith("BIRD ")
            and "not in table" not in line
        ]
        if via is None:
            return bool(rows)
        if via in self.routers:
            via = self.routers[via].address
        forms = {via, via.replace(".", "_")}
        return any(
            re.search(rf"(?<!\d){re.escape(form)}(?!\d)", row)
            for form in forms for row in rows
        )

    def wait_route(
        self,
        name: str,
        prefix: str,
        *,
        via: str | None = None,
        present: bool = True,
        timeout: float = 30,
    ) -> float:
        """Wait until ``prefix`` is (or is no longer) in a router's table."""
        start = time.monotonic()
        while self.has_route(name, prefix, via) != present:
            if time.monotonic() - start > timeout:
                raise BgpLabTimeout(
                    f"{name}: route {prefix} still {'absent' if present else 'present'} "
                    f"after {timeout}s; `show route all`:\n{self.routes(name)}"
                )
            time.sleep(0.2)
        return time.monotonic() - start


# --------------------------------------------------------------------------
# leftovers
# --------------------------------------------------------------------------


def _lab_alive(lab_dir: Path) -> bool:
    try:
        pid_s, start = (lab_dir / "owner").read_text().split()
    except (OSError, ValueError):
        return False
    return _proc_start_time(int(pid_s)) == start


def list_labs(prefix: str = DEFAULT_PREFIX, tmp_root=None) -> dict[str, dict]:
    """Labs whose id starts with ``prefix``: ``{id: {netns, dir, alive}}``."""
    tmp_root = Path(tmp_root or tempfile.gettempdir())
    id_re = re.compile(rf"^{re.escape(prefix)}[0-9a-f]*$")
    labs: dict[str, dict] = {}
    for ns in _netns_list():
        lab_id = ns.split("-", 1)[0]
        if "-" in ns and id_re.match(lab_id):
            labs.setdefault(lab_id, {"netns": [], "dir": None})["netns"].append(ns)
    if tmp_root.is_dir():
        for entry in tmp_root.iterdir():
            if id_re.match(entry.name) and (entry / "owner").is_file():
                labs.setdefault(entry.name, {"netns": [], "dir": None})["dir"] = entry
    for lab_id, info in labs.items():
        info["alive"] = _lab_alive(tmp_root / lab_id)
    return labs


def _remove_lab(lab_id: str, tmp_root: Path) -> list[str]:
    """Kill the lab's daemons, delete its namespaces and directory."""
    errors = []
    lab_dir = tmp_root / lab_id
    namespaces = [ns for ns in _netns_list() if ns.startswith(lab_id + "-")]
    pids = set()
    for ns in namespaces:
        pids.update(_netns_pids(ns))
    # daemons whose namespace is already gone are found by their pid files
    if lab_dir.is_dir():
        for pidfile in lab_dir.glob("*/bird.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if str(lab_dir).encode() in cmdline:
                pids.add(pid)
    for pid in pids:
        _kill(pid)
    deadline = time.monotonic() + 5
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _pid_alive(pid):
            # a zombie child of ours is harmless once reaped by its parent
            status = Path(f"/proc/{pid}/status").read_text(errors="ignore")
            if "State:\tZ" not in status:
                errors.append(f"process {pid} survived SIGKILL")
    for ns in namespaces:
        try:
            _run(["ip", "netns", "delete", ns])
        except BgpLabError as exc:
            errors.append(str(exc))
    if lab_dir.exists():
        shutil.rmtree(lab_dir, ignore_errors=True)
        if lab_dir.exists():
            errors.append(f"could not remove {lab_dir}")
    return errors


def cleanup_stale(
    prefix: str = DEFAULT_PREFIX, *, include_live: bool = False, tmp_root=None
) -> list[str]:
    """Remove leftovers of labs whose owning process is gone.

    A lab is stale when the process that made it (recorded in
    ``<tmp>/<lab id>/owner``) no longer runs, or its directory is gone.
    ``include_live=True`` also removes labs of running processes.  Returns
    the lab ids removed; raises :class:`BgpLabError` if something remained.
    """
    tmp_root = Path(tmp_root or tempfile.gettempdir())
    removed, errors = [], []
    for lab_id, info in list_labs(prefix, tmp_root).items():
        if info["alive"] and not include_live:
            continue
        errors += _remove_lab(lab_id, tmp_root)
        removed.append(lab_id)
    if errors:
        raise BgpLabError("stale lab cleanup incomplete: " + "; ".join(errors))
    return sorted(removed)
