"""Running real ansible-playbook from the tests, with results read from the JSON callback."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("K8SNET_VENV", REPO_ROOT / ".venv"))
# Another ansible-core release can run the playbooks (scripts/test.sh matrix): the folder of its
# ansible-playbook, and the collections path it reads (with kubernetes.core and ansible.posix in it,
# as that release's venv has no community package). Default: the venv's.
ANSIBLE_BIN_DIR = Path(os.environ.get("K8SNET_ANSIBLE_BIN_DIR") or VENV / "bin")
ANSIBLE_COLLECTIONS_PATH = os.environ.get("K8SNET_ANSIBLE_COLLECTIONS_PATH") or str(VENV / "collections")


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict

    def task_results(self, name: str) -> list[dict]:
        """Every host result of the tasks called ``name`` (in play order)."""
        found = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == name:
                    found.extend(task["hosts"].values())
        return found

    def result(self, name: str) -> dict:
        results = self.task_results(name)
        assert len(results) == 1, f"expected one result of task {name!r}, got {len(results)}:\n{self.stdout[-3000:]}"
        return results[0]

    @property
    def stats(self) -> dict:
        return self.report.get("stats", {}).get("localhost", {})

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change on some host (in play order)."""
        return [task["task"]["name"] for play in self.report.get("plays", []) for task in play.get("tasks", [])
                if any(result.get("changed") for result in task["hosts"].values())]

    def failure(self) -> str:
        """The message of the last failed task (the one that ended the run), or ''."""
        messages = [result.get("msg", "") for play in self.report.get("plays", []) for task in play.get("tasks", [])
                    for result in task["hosts"].values() if result.get("failed")]
        return messages[-1] if messages else ""


def run_playbook(workdir: Path, tasks: list[dict], *, check: bool = False, diff: bool = False,
                 extra_vars: dict | None = None, env: dict | None = None) -> PlaybookRun:
    """Runs ``tasks`` in a play on localhost through ansible-playbook and returns its JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    play = [{"name": "test", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]
    path = workdir / "playbook.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    command = [str(ANSIBLE_BIN_DIR / "ansible-playbook"), "-i", "localhost,", str(path)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    return _run(command, workdir, check=check, diff=diff, env=env)


# The inventory of run_playbook_file when none is given: the controller, and no nodes.
LOCAL_INVENTORY = {"all": {
    "hosts": {"localhost": {"ansible_connection": "local",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
    "children": {"k8s_cluster": {"hosts": {}}, "calico_rr": {"hosts": {}}}}}


def run_playbook_file(workdir: Path, playbook: Path | str, *, inventory: Path | dict | None = None,
                      check: bool = False, diff: bool = False, extra_vars: dict | None = None,
                      env: dict | None = None, name: str = "run") -> PlaybookRun:
    """Runs a playbook file (e.g. playbooks/install.yml) with an inventory (a path, or a dict written
    as YAML; default LOCAL_INVENTORY) and ``extra_vars`` (written to a file and given as ``-e @file``)
    from ``workdir``, and returns its JSON report. ``name`` keeps the files of several runs apart."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not isinstance(inventory, (str, Path)):
        inventory_path = workdir / f"{name}-hosts.yml"
        inventory_path.write_text(yaml.safe_dump(inventory or LOCAL_INVENTORY, sort_keys=False))
        inventory = inventory_path
    command = [str(ANSIBLE_BIN_DIR / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        vars_path = workdir / f"{name}-vars.json"
        vars_path.write_text(json.dumps(extra_vars))
        command += ["-e", f"@{vars_path}"]
    return _run(command, workdir, check=check, diff=diff, env=env)


def _run(command: list[str], workdir: Path, *, check: bool, diff: bool, env: dict | None) -> PlaybookRun:
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    run_env = {**os.environ,
               "ANSIBLE_COLLECTIONS_PATH": ANSIBLE_COLLECTIONS_PATH,
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0",
               "ANSIBLE_RETRY_FILES_ENABLED": "0", "PWD": str(workdir),
               **(env or {})}
    process = subprocess.run(command, cwd=workdir, env=run_env, capture_output=True, text=True, timeout=600,
                             check=False)
    try:
        report = json.loads(process.stdout[process.stdout.index("{"):])
    except ValueError:
        report = {}
    return PlaybookRun(process.returncode, process.stdout, process.stderr, report)
