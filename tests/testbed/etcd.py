"""A real etcd on free loopback ports in a temporary folder, with optional TLS."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from pathlib import Path

from .binaries import program
from .pki import CertificateAuthority, CertPair
from .procs import Daemon, Supervisor, free_port, tail, wait_until


class EtcdServer:
    """One etcd member. ``endpoint`` is its client URL (http or https)."""

    def __init__(self, workdir: Path, supervisor: Supervisor, *, tls: bool = False,
                 ca: CertificateAuthority | None = None, name: str = "etcd"):
        self.workdir = Path(workdir)
        self.supervisor = supervisor
        self.name = name
        self.tls = tls
        self.client_port = free_port()
        self.peer_port = free_port()
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.client_port}"
        self.ca = ca
        self.server_cert: CertPair | None = None
        self.client_cert: CertPair | None = None
        if tls:
            self.ca = ca or CertificateAuthority(self.workdir / "pki", f"{name}-ca")
            self.server_cert = self.ca.issue(f"{name}-server", name, server=True, client=True,
                                             dns_names=("localhost",), ip_addresses=("127.0.0.1",))
            self.client_cert = self.ca.issue(f"{name}-client", f"{name}-client", client=True)
        self.daemon: Daemon | None = None

    def start(self, timeout: float = 30) -> "EtcdServer":
        data = self.workdir / f"{self.name}-data"
        data.mkdir(parents=True, exist_ok=True)
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            program("etcd"), "--name", self.name, "--data-dir", str(data),
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-state", "new",
            # A test store: durability across power loss buys nothing and costs seconds.
            "--unsafe-no-fsync", "--log-level", "warn", "--quota-backend-bytes", str(2 * 1024 ** 3),
        ]
        if self.tls:
            assert self.server_cert and self.ca
            argv += ["--cert-file", str(self.server_cert.cert), "--key-file", str(self.server_cert.key),
                     "--trusted-ca-file", str(self.ca.cert_path), "--client-cert-auth"]
        self.daemon = self.supervisor.start(Daemon(self.name, argv, self.workdir / f"{self.name}.log"))
        wait_until(self.healthy, timeout, f"{self.name} at {self.endpoint}",
                   on_timeout=lambda: tail(self.workdir / f"{self.name}.log"))
        return self

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        assert self.ca and self.client_cert
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        context.load_cert_chain(str(self.client_cert.cert), str(self.client_cert.key))
        return context

    def healthy(self) -> bool:
        if self.daemon:
            self.daemon.check_alive()
        with urllib.request.urlopen(f"{self.endpoint}/health", timeout=2,  # noqa: S310 - loopback
                                    context=self._ssl_context()) as response:
            return json.loads(response.read()).get("health") == "true"

    # A minimal client of etcd's v3 JSON gateway, so tests can read what was stored without a library.
    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(f"{self.endpoint}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self._ssl_context()) as response:  # noqa: S310
            return json.loads(response.read())

    @staticmethod
    def _b64(value: str | bytes) -> str:
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()

    def get_prefix(self, prefix: str) -> dict[str, bytes]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        reply = self._post("/v3/kv/range", {"key": self._b64(prefix), "range_end": self._b64(end)})
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
                for kv in reply.get("kvs", [])}

    def revision(self) -> int:
        reply = self._post("/v3/kv/range", {"key": self._b64("\0"), "limit": 1, "count_only": True})
        return int(reply["header"]["revision"])

    def env(self) -> dict[str, str]:
        """calicoctl's environment for this etcd."""
        env = {"DATASTORE_TYPE": "etcdv3", "ETCD_ENDPOINTS": self.endpoint}
        if self.tls:
            assert self.ca and self.client_cert
            env.update(ETCD_CA_CERT_FILE=str(self.ca.cert_path), ETCD_CERT_FILE=str(self.client_cert.cert),
                       ETCD_KEY_FILE=str(self.client_cert.key))
        return env
