"""Where the test bed's Go-built programs are, building them when they are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .procs import TestbedError

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
PROGRAMS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
            "etcd", "etcdctl", "kwok", "calicoctl")


def bin_dir(build: bool = True) -> Path:
    """The folder with every program; ``K8SNET_TESTBED_BIN`` names it, else build.sh makes it."""
    configured = os.environ.get("K8SNET_TESTBED_BIN")
    if configured:
        path = Path(configured)
    elif build:
        if shutil.which("go") is None:
            raise TestbedError("Go is not installed: the test bed builds kube-apiserver, etcd, kwok "
                               "and calicoctl from their Go modules (Go 1.24+ needed)")
        result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise TestbedError(f"tests/testbed/build.sh failed:\n{result.stderr[-4000:]}")
        path = Path(result.stdout.strip().splitlines()[-1])
        os.environ["K8SNET_TESTBED_BIN"] = str(path)
    else:
        raise TestbedError("K8SNET_TESTBED_BIN is not set")
    missing = [p for p in PROGRAMS if not (path / p).is_file()]
    if missing:
        raise TestbedError(f"{path} lacks {', '.join(missing)}: run tests/testbed/build.sh")
    return path


def program(name: str) -> str:
    return str(bin_dir() / name)
