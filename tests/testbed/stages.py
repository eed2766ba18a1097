"""kwok Stages: how the simulated kubelets move pods, decided by the test through the image name.

- an image whose reference contains ``kwok-stall`` runs but never becomes Ready (a stalled rollout);
- an image whose reference contains ``kwok-crash`` crash-loops (CrashLoopBackOff, restarts counted);
- every other pod becomes Running and Ready about half a second after it is bound to a node.
A pod being deleted is removed at once, as a kubelet would after its containers stopped.
"""

from __future__ import annotations

STALL_MARKER = "kwok-stall"
CRASH_MARKER = "kwok-crash"

_IMAGES = ".spec.containers.[].image"


def _image_has(marker: str) -> str:
    return f'{_IMAGES} | select(contains("{marker}"))'


_NOT_DELETED = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_PENDING_ON_NODE = [
    _NOT_DELETED,
    {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
    {"key": ".spec.nodeName", "operator": "Exists"},
]

# Shared parts of the status templates (Go templates rendered by kwok).
_ADDRESSES = """
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"""

_INIT_DONE = """
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
"""


def _conditions(ready: bool) -> str:
    value = '"True"' if ready else '"False"'
    return f"""
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "True"
  type: PodScheduled
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "True"
  type: Initialized
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: {value}
  type: Ready
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: {value}
  type: ContainersReady
"""


def _running_containers(ready: bool) -> str:
    return f"""
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: {"true" if ready else "false"}
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{{{ $now | Quote }}}}
{{{{ end }}}}
"""


_CRASHING_CONTAINERS = """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 5
  lastState:
    terminated:
      exitCode: 1
      finishedAt: {{ $now | Quote }}
      reason: Error
      startedAt: {{ $now | Quote }}
  state:
    waiting:
      message: back-off restarting failed container
      reason: CrashLoopBackOff
{{ end }}
"""


def _status(body: str) -> str:
    return "{{ $now := Now }}\n" + body + _INIT_DONE + _ADDRESSES + "phase: Running\nstartTime: {{ $now | Quote }}\n"


def _pod_stage(name: str, selector: list[dict], status: str, delay_ms: int = 500) -> dict:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": selector},
            "delay": {"durationMilliseconds": delay_ms},
            "next": {"statusTemplate": status},
        },
    }


def pod_stages() -> list[dict]:
    ready = _pod_stage(
        "testbed-pod-ready",
        _PENDING_ON_NODE + [
            {"key": _image_has(STALL_MARKER), "operator": "DoesNotExist"},
            {"key": _image_has(CRASH_MARKER), "operator": "DoesNotExist"},
        ],
        _status(_conditions(True) + _running_containers(True)),
    )
    stall = _pod_stage(
        "testbed-pod-stall",
        _PENDING_ON_NODE + [{"key": _image_has(STALL_MARKER), "operator": "Exists"}],
        _status(_conditions(False) + _running_containers(False)),
    )
    crash = _pod_stage(
        "testbed-pod-crash",
        _PENDING_ON_NODE + [{"key": _image_has(CRASH_MARKER), "operator": "Exists"}],
        _status(_conditions(False) + _CRASHING_CONTAINERS),
    )
    delete = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "testbed-pod-delete"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "Exists"},
            ]},
            "delay": {"durationMilliseconds": 200},
            "next": {"finalizers": {"empty": True}, "delete": True},
        },
    }
    return [ready, stall, crash, delete]


_NODE_HEARTBEAT = """
{{ $now := Now }}
conditions:
{{ range .status.conditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ .lastTransitionTime | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""


def node_stages() -> list[dict]:
    """Heartbeats for the nodes the fixture registers Ready (their addresses are the test's)."""
    return [{
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "testbed-node-heartbeat"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Node"},
            "selector": {"matchExpressions": [
                {"key": ".status.conditions.[] | select( .type == \"Ready\" ) | .status",
                 "operator": "In", "values": ["True"]},
            ]},
            "delay": {"durationMilliseconds": 20000, "jitterDurationMilliseconds": 25000},
            "next": {"statusTemplate": _NODE_HEARTBEAT},
        },
    }]
