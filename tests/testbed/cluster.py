"""A real Kubernetes control plane on loopback, with kwok's simulated kubelets as the nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real programs built by
build.sh; kwok marks the pods of its nodes Running/Ready (or stalled, or crash-looping, see
stages.py). Nothing runs containers.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .binaries import program
from .etcd import EtcdServer
from .pki import CertificateAuthority, service_account_keys
from .procs import Daemon, Supervisor, TestbedError, free_port, tail, wait_until
from .stages import node_stages, pod_stages

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.96.0.0/16"


@dataclass
class NodeSpec:
    name: str
    internal_ip: str
    pod_cidr: str
    labels: dict[str, str] = field(default_factory=dict)


def default_nodes(count: int = 3) -> list[NodeSpec]:
    """``count`` nodes with documentation-range addresses (192.0.2.0/24 ... ) and /24 pod CIDRs."""
    nodes = []
    for index in range(count):
        third, fourth = divmod(index + 11, 250)
        nodes.append(NodeSpec(
            name=f"node-{index + 1}",
            internal_ip=f"192.0.{2 + third}.{fourth}" if third == 0 else f"198.18.{third}.{fourth}",
            pod_cidr=f"10.{244 + index // 256}.{index % 256}.0/24",
        ))
    return nodes


def operator_crd(kind: str, plural: str) -> dict:
    """A minimal CustomResourceDefinition of a prometheus-operator kind (``monitoring.coreos.com/v1``,
    open schema): the tests' stand-in for the operator's CRDs, which are not available offline."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {"type": "object",
                                                                   "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def write_kubeconfig(path: Path, server: str, ca_file: Path, *, user: str,
                     cert: Path | None = None, key: Path | None = None, token: str | None = None) -> Path:
    user_entry: dict = {}
    if cert and key:
        user_entry = {"client-certificate": str(cert), "client-key": str(key)}
    if token:
        user_entry = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chmod(path, 0o600)
    return path


class TestCluster:
    """Start with ``start()`` (or as a context manager); always stopped by ``stop()``."""

    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path | None = None, nodes: list[NodeSpec] | None = None):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="k8snet-testbed-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes = list(nodes if nodes is not None else default_nodes())
        self.supervisor = Supervisor(self.workdir / "state.json")
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.pki_dir = self.workdir / "pki"
        self.etcd: EtcdServer | None = None
        self.timings: dict[str, float] = {}

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> "TestCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 120) -> "TestCluster":
        began = time.monotonic()
        self._make_pki()
        self.etcd = EtcdServer(self.workdir, self.supervisor, name="etcd").start()
        self._start_apiserver(timeout)
        self.timings["apiserver_ready_s"] = round(time.monotonic() - began, 2)
        self._start_controllers()
        self._start_kwok()
        self.add_nodes(self.nodes, register=False)
        self._wait_default_serviceaccount(timeout)
        self.timings["cluster_ready_s"] = round(time.monotonic() - began, 2)
        (self.workdir / "cluster.json").write_text(json.dumps(self.describe(), indent=2))
        return self

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> dict:
        return {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "workdir": str(self.workdir),
            "etcd": self.etcd.endpoint if self.etcd else None,
            "nodes": [n.__dict__ for n in self.nodes],
            "pids": {d.name: d.pid for d in self.supervisor.daemons},
            "timings": self.timings,
        }

    # -- components ---------------------------------------------------------------------------
    def _make_pki(self) -> None:
        ca = CertificateAuthority(self.pki_dir, "k8snet-testbed-ca")
        self.ca = ca
        self.serving = ca.issue("apiserver", "kube-apiserver", server=True,
                                dns_names=("localhost", "kubernetes", "kubernetes.default",
                                           "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
                                ip_addresses=("127.0.0.1", "10.96.0.1"))
        self.sa_keys = service_account_keys(self.pki_dir)
        admin = ca.issue("admin", "testbed-admin", organizations=("system:masters",), client=True)
        self.kubeconfig = write_kubeconfig(self.workdir / "admin.kubeconfig", self.server, ca.cert_path,
                                           user="testbed-admin", cert=admin.cert, key=admin.key)
        self._admin_cert = admin
        kcm = ca.issue("controller-manager", "system:kube-controller-manager", client=True)
        self._kcm_kubeconfig = write_kubeconfig(self.workdir / "controller-manager.kubeconfig", self.server,
                                                ca.cert_path, user="kcm", cert=kcm.cert, key=kcm.key)
        sched = ca.issue("scheduler", "system:kube-scheduler", client=True)
        self._sched_kubeconfig = write_kubeconfig(self.workdir / "scheduler.kubeconfig", self.server,
                                                  ca.cert_path, user="scheduler", cert=sched.cert, key=sched.key)
        kwok = ca.issue("kwok", "testbed-kwok", organizations=("system:masters",), client=True)
        self._kwok_kubeconfig = write_kubeconfig(self.workdir / "kwok.kubeconfig", self.server, ca.cert_path,
                                                 user="kwok", cert=kwok.cert, key=kwok.key)

    def _start_apiserver(self, timeout: float) -> None:
        assert self.etcd
        argv = [
            program("kube-apiserver"),
            "--etcd-servers", self.etcd.endpoint,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(self.port),
            "--cert-dir", str(self.pki_dir),
            "--tls-cert-file", str(self.serving.cert), "--tls-private-key-file", str(self.serving.key),
            "--client-ca-file", str(self.ca.cert_path),
            "--service-account-key-file", str(self.sa_keys.cert),
            "--service-account-signing-key-file", str(self.sa_keys.key),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--api-audiences", "https://kubernetes.default.svc.cluster.local",
            "--authorization-mode", "RBAC",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--endpoint-reconciler-type", "none",
            "--v", "1",
        ]
        self.supervisor.start(Daemon("kube-apiserver", argv, self.workdir / "kube-apiserver.log"))
        wait_until(lambda: self._healthy("/readyz"), timeout, f"kube-apiserver at {self.server}",
                   interval=0.5, on_timeout=lambda: tail(self.workdir / "kube-apiserver.log"))

    def _healthy(self, path: str) -> bool:
        self.supervisor.check_alive()
        return self.request("GET", path, raw=True)[0] == 200

    def _start_controllers(self) -> None:
        kcm_port, sched_port = free_port(), free_port()
        controllers = ",".join([
            "daemonset-controller", "deployment-controller", "replicaset-controller",
            "serviceaccount-controller", "namespace-controller", "garbage-collector-controller",
            "root-ca-certificate-publisher-controller", "clusterrole-aggregation-controller",
            "endpointslice-controller", "pod-garbage-collector-controller", "job-controller",
            "statefulset-controller", "node-lifecycle-controller", "taint-eviction-controller",
        ])
        self.supervisor.start(Daemon("kube-controller-manager", [
            program("kube-controller-manager"),
            "--kubeconfig", str(self._kcm_kubeconfig),
            "--authentication-kubeconfig", str(self._kcm_kubeconfig),
            "--authorization-kubeconfig", str(self._kcm_kubeconfig),
            "--bind-address", "127.0.0.1", "--secure-port", str(kcm_port),
            "--leader-elect=false",
            "--controllers", controllers,
            "--service-account-private-key-file", str(self.sa_keys.key),
            "--root-ca-file", str(self.ca.cert_path),
            "--use-service-account-credentials=true",
            "--concurrent-daemonset-syncs", "5",
            "--v", "1",
        ], self.workdir / "kube-controller-manager.log"))
        self.supervisor.start(Daemon("kube-scheduler", [
            program("kube-scheduler"),
            "--kubeconfig", str(self._sched_kubeconfig),
            "--authentication-kubeconfig", str(self._sched_kubeconfig),
            "--authorization-kubeconfig", str(self._sched_kubeconfig),
            "--bind-address", "127.0.0.1", "--secure-port", str(sched_port),
            "--leader-elect=false",
            "--v", "1",
        ], self.workdir / "kube-scheduler.log"))

    def _start_kwok(self) -> None:
        config = self.workdir / "kwok.yaml"
        config.write_text(yaml.safe_dump_all(node_stages() + pod_stages(), sort_keys=False))
        self.supervisor.start(Daemon("kwok", [
            program("kwok"),
            "--kubeconfig", str(self._kwok_kubeconfig),
            "--config", str(config),
            "--manage-nodes-with-annotation-selector", f"{KWOK_NODE_ANNOTATION}=fake",
            "--cidr", "10.250.0.0/16",
            "--node-ip", "192.0.2.250",
            # kwok renews each node's Lease, the heartbeat the node lifecycle controller watches.
            "--node-lease-duration-seconds", "40",
        ], self.workdir / "kwok.log"))

    def _wait_default_serviceaccount(self, timeout: float) -> None:
        def exists() -> bool:
            self.supervisor.check_alive()
            path = "/api/v1/namespaces/kube-system/serviceaccounts/default"
            return self.request("GET", path, raw=True)[0] == 200
        wait_until(exists, timeout, "the controller manager to create service accounts",
                   on_timeout=lambda: tail(self.workdir / "kube-controller-manager.log"))

    # -- nodes --------------------------------------------------------------------------------
    def node_object(self, spec: NodeSpec) -> dict:
        labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "type": "kwok", **spec.labels}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        conditions = [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kwok node",
             "lastHeartbeatTime": now, "lastTransitionTime": now},
        ] + [
            {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": "",
             "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t, r in (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                         ("PIDPressure", "SufficientPID"))
        ]
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": spec.name, "labels": labels,
                         "annotations": {KWOK_NODE_ANNOTATION: "fake",
                                         "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": spec.internal_ip},
                              {"type": "Hostname", "address": spec.name}],
                "allocatable": resources, "capacity": resources, "conditions": conditions,
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                             "kubeletVersion": self.version(), "kubeProxyVersion": self.version(),
                             "containerRuntimeVersion": "kwok", "kernelVersion": "kwok",
                             "osImage": "kwok", "machineID": "", "bootID": "", "systemUUID": ""},
                "phase": "Running",
            },
        }

    def add_nodes(self, specs: list[NodeSpec], register: bool = True) -> None:
        """Creates Nodes (status included, which the API allows on create) that kwok then serves."""
        for spec in specs:
            status, body = self.request("POST", "/api/v1/nodes", self.node_object(spec), raw=True)
            if status not in (200, 201):
                raise TestbedError(f"creating node {spec.name} failed: {status} {body}")
        if register:
            self.nodes.extend(specs)

    # -- access ---------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        context.load_cert_chain(str(self._admin_cert.cert), str(self._admin_cert.key))
        return context

    def request(self, method: str, path: str, body: dict | None = None, *, raw: bool = False,
                content_type: str = "application/json", token: str | None = None):
        """One REST call as cluster admin (or with ``token``); returns (status, parsed body)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        context = self._ssl()
        if token:
            context = ssl.create_default_context(cafile=str(self.ca.cert_path))
            request.add_header("Authorization", f"Bearer {token}")
        # Like every Kubernetes client, honour 429 + Retry-After (e.g. a new CRD's storage warming up).
        for dummy in range(20):
            try:
                with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as err:
                status, payload = err.code, err.read()
                if status == 429:
                    time.sleep(min(float(err.headers.get("Retry-After") or 1), 2))
                    continue
            break
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode(errors="replace")
        if not raw and status >= 300:
            raise TestbedError(f"{method} {path} -> {status}: {parsed}")
        return (status, parsed) if raw else parsed

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([program("kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
                                capture_output=True, text=True, input=input, check=False, timeout=300)
        if check and result.returncode != 0:
            raise TestbedError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def version(self) -> str:
        return self.request("GET", "/version")["gitVersion"]

    def wait_crds_established(self, *names: str, timeout: float = 60) -> None:
        """Wait until every CRD (or the named ones) is Established. ``kubectl wait`` fails at once on
        a CRD whose status has no conditions yet, as a CRD created a moment ago may not."""
        def established() -> bool:
            items = self.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
            chosen = [item for item in items if not names or item["metadata"]["name"] in names]
            if names and len(chosen) < len(set(names)):
                return False
            return all(any(c.get("type") == "Established" and c.get("status") == "True"
                           for c in (item.get("status") or {}).get("conditions") or []) for item in chosen)
        wait_until(established, timeout, f"CRDs Established: {', '.join(names) or 'all'}")

    def restricted_kubeconfig(self, name: str, rules: list[dict], namespace: str = "kube-system",
                              cluster_wide: bool = True) -> Path:
        """A kubeconfig for a ServiceAccount that holds only ``rules`` (RBAC PolicyRules)."""
        kind = "ClusterRole" if cluster_wide else "Role"
        binding = "ClusterRoleBinding" if cluster_wide else "RoleBinding"
        scope = "" if cluster_wide else f"/namespaces/{namespace}"
        self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        self.request("POST", f"/apis/rbac.authorization.k8s.io/v1{scope}/{kind.lower()}s",
                     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                      "metadata": {"name": name}, "rules": rules})
        self.request("POST", f"/apis/rbac.authorization.k8s.io/v1{scope}/{binding.lower()}s",
                     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding,
                      "metadata": {"name": name},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                      "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
        token = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                             {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                              "spec": {"expirationSeconds": 7200}})["status"]["token"]
        return write_kubeconfig(self.workdir / f"{name}.kubeconfig", self.server, self.ca.cert_path,
                                user=name, token=token)

    # -- waiting on workloads -------------------------------------------------------------------
    def daemonset_status(self, namespace: str, name: str) -> dict:
        return self.request("GET", f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}").get("status", {})

    def wait_daemonset_ready(self, namespace: str, name: str, timeout: float = 120) -> dict:
        def ready() -> bool:
            st = self.daemonset_status(namespace, name)
            want = st.get("desiredNumberScheduled", 0)
            return want > 0 and st.get("numberReady") == want and st.get("updatedNumberScheduled") == want
        wait_until(ready, timeout, f"DaemonSet {namespace}/{name} ready",
                   interval=0.5, on_timeout=lambda: json.dumps(self.daemonset_status(namespace, name)))
        return self.daemonset_status(namespace, name)
