"""meta/execution-environment.yml makes a correct ansible-builder build context (`create` only).

No container engine is needed: the test runs `ansible-builder create` and reads what the build
would do, and asks bindep (the one ansible-builder's assemble script runs) which system packages
the image would get. Offline and fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, missing_component

EE_FILE = REPO_ROOT / "meta" / "execution-environment.yml"
BIN = Path(sys.executable).parent
# The profiles ansible-builder's assemble script passes to bindep: none (the packages of the
# image), "epel" (the EPEL subset) and "compile" (build-only packages).
BUILDER_PROFILES = [[], ["epel"], ["compile"]]
TEST_ONLY = {"bird", "iproute2", "openssl"}


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.is_file():
        missing_component(f"{name} in {BIN} (requirements-dev.txt installs it)")
    return path


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    ctx = tmp_path_factory.mktemp("ee") / "context"
    run = subprocess.run(
        [str(_tool("ansible-builder")), "create", "-f", str(EE_FILE.relative_to(REPO_ROOT)),
         "-c", str(ctx), "--output-filename", "Containerfile"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"ansible-builder create failed:\n{run.stdout}\n{run.stderr}"
    return ctx


def test_containerfile_builds_from_the_base_image(context):
    definition = yaml.safe_load(EE_FILE.read_text())
    assert definition["version"] == 3
    base = definition["images"]["base_image"]["name"]
    containerfile = context / "Containerfile"
    assert containerfile.is_file()
    text = containerfile.read_text()
    assert f'ARG EE_BASE_IMAGE="{base}"' in text
    assert "FROM $EE_BASE_IMAGE AS base" in text
    assert not any(line.split()[0] == "calicoctl" for line in _lines(REPO_ROOT / "bindep.txt"))


def test_context_holds_python_and_system_requirements(context):
    build = context / "_build"
    assert _lines(build / "requirements.txt") == _lines(REPO_ROOT / "requirements.txt")
    assert _lines(build / "bindep.txt") == _lines(REPO_ROOT / "bindep.txt")
    names = {line.split(">=")[0].split("==")[0].lower() for line in _lines(build / "requirements.txt")}
    assert {"kubernetes", "pyyaml", "jsonpatch", "requests"} <= names


def test_galaxy_requirements_name_kubernetes_core(context):
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    names = [c["name"] if isinstance(c, dict) else c for c in requirements["collections"]]
    assert "kubernetes.core" in names


@pytest.mark.parametrize("profiles", BUILDER_PROFILES, ids=["default", "epel", "compile"])
def test_test_only_system_packages_are_not_installed(context, profiles):
    """bindep -l newline lists every package the profile selects, installed here or not."""
    run = subprocess.run(
        [str(_tool("bindep")), "-f", str(context / "_build" / "bindep.txt"), "-l", "newline", *profiles],
        capture_output=True, text=True, timeout=30, check=False)
    # bindep exits 1 when it lists packages that are missing on this host; 0 when none are.
    assert run.returncode in (0, 1), run.stderr
    selected = set(run.stdout.split())
    assert not selected & TEST_ONLY, f"test-only packages selected by profile {profiles}: {selected & TEST_ONLY}"
    if not profiles:
        assert "python3" in selected
    # They are still there for the test suite's own profile.
    run = subprocess.run([str(_tool("bindep")), "-f", str(REPO_ROOT / "bindep.txt"), "-l", "newline", "test"],
                         capture_output=True, text=True, timeout=30, check=False)
    if shutil.which("dpkg"):  # bird and iproute2 are [test platform:dpkg] entries
        assert {"bird", "iproute2", "openssl"} <= set(run.stdout.split())


def test_collection_is_installed_into_the_image(context, tmp_path):
    """The copy of the collection in the context installs offline, as the final stage does."""
    containerfile = (context / "Containerfile").read_text()
    assert "COPY _build/k8snet.calico /tmp/k8snet.calico" in containerfile
    assert "ansible-galaxy collection install --offline --no-deps" in containerfile
    dest = tmp_path / "collections"
    # Only the target folder is searched, as in a fresh image (not the checkout a test run may expose).
    run = subprocess.run(
        [str(_tool("ansible-galaxy")), "collection", "install", "--offline", "--no-deps", "-p", str(dest),
         str(context / "_build" / "k8snet.calico")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(dest)})
    assert run.returncode == 0, run.stdout + run.stderr
    installed = dest / "ansible_collections" / "k8snet" / "calico"
    for wanted in ("MANIFEST.json", "plugins/modules/calicoctl.py", "playbooks/install.yml",
                   "playbooks/render.yml", "roles/calico/tasks", "requirements.txt"):
        assert (installed / wanted).exists(), wanted
