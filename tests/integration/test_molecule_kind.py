"""Molecule scenario kind (molecule/kind): it needs Docker and kind, which CI does not have, so
these tests check what can be checked without them: every playbook of the scenario passes
ansible-playbook --syntax-check, the kind cluster's configuration has no default CNI and the pod
subnet of the scenario's inventory, and create.yml refuses a configuration that does not, before
it runs docker or kind."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from playbook import ANSIBLE_BIN_DIR, ANSIBLE_COLLECTIONS_PATH, REPO_ROOT, run_playbook_file

SCENARIO = REPO_ROOT / "molecule" / "kind"
MOLECULE = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
# The steps of the test sequence that run a playbook of the scenario's own.
PLAYBOOK_STEPS = ("create", "prepare", "converge", "verify", "destroy")


def scenario_inventory() -> Path:
    """The collection inventory molecule.yml adds (its default when CALICO_MOLECULE_INVENTORY is unset)."""
    args = MOLECULE["ansible"]["executor"]["args"]["ansible_playbook"]
    found = [re.fullmatch(r"--inventory=\$\{MOLECULE_PROJECT_DIRECTORY\}/inventory/\$\{CALICO_MOLECULE_INVENTORY:-(\w+)\}",
                          arg) for arg in args]
    names = [match.group(1) for match in found if match]
    assert len(names) == 1, f"molecule.yml names no collection inventory: {args}"
    return REPO_ROOT / "inventory" / names[0]


def test_test_sequence_has_a_playbook_for_each_step():
    sequence = MOLECULE["scenario"]["test_sequence"]
    assert sequence[0] == "destroy" and sequence[-1] == "destroy"
    assert "idempotence" in sequence and sequence.index("idempotence") == sequence.index("converge") + 1
    for step in PLAYBOOK_STEPS:
        assert step in sequence, step
        assert (SCENARIO / f"{step}.yml").is_file(), f"molecule/kind/{step}.yml is missing"


@pytest.mark.parametrize("step", PLAYBOOK_STEPS)
def test_playbook_passes_syntax_check(step):
    command = [str(ANSIBLE_BIN_DIR / "ansible-playbook"), "--syntax-check", "-i", str(scenario_inventory()),
               f"{step}.yml"]
    process = subprocess.run(command, cwd=SCENARIO, capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": ANSIBLE_COLLECTIONS_PATH,
                                  "ANSIBLE_NOCOLOR": "1"})
    assert process.returncode == 0, process.stdout + process.stderr


def test_kind_config_has_no_default_cni_and_the_inventory_pod_subnet():
    config = yaml.safe_load((SCENARIO / "kind-config.yml").read_text())
    inventory_vars = yaml.safe_load((scenario_inventory() / "group_vars" / "all.yml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["networking"]["disableDefaultCNI"] is True
    assert config["networking"]["podSubnet"] == inventory_vars["calico_pod_cidr"]
    roles = [node["role"] for node in config["nodes"]]
    # Pod-to-pod traffic across nodes (verify.yml) needs two workers for its two pods.
    assert roles.count("control-plane") == 1 and roles.count("worker") >= 2, roles


@pytest.mark.parametrize("networking, message", [
    ({"disableDefaultCNI": True, "podSubnet": "10.99.0.0/16"}, "networking.podSubnet (10.99.0.0/16) must equal"),
    ({"podSubnet": "10.244.0.0/16"}, "networking.disableDefaultCNI must be true"),
])
def test_create_refuses_a_config_before_running_kind(tmp_path, networking, message):
    config = tmp_path / "kind-config.yml"
    config.write_text(yaml.safe_dump({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                                      "networking": networking}))
    run = run_playbook_file(tmp_path, SCENARIO / "create.yml", inventory=scenario_inventory(), extra_vars={
        "kind_config": str(config), "kind_cluster_name": "never-created", "kind_node_image": "",
        "kind_kubeconfig": str(tmp_path / "kubeconfig")})
    assert run.returncode != 0
    assert message in run.failure(), run.stdout[-3000:]
    assert "Check that docker and kind are usable" not in run.stdout, "create.yml went on to docker and kind"
    assert not (tmp_path / "kubeconfig").exists()
