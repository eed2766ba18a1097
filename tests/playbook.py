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


def run_playbook(workdir: Path, tasks: list[dict], *, check: bool = False, diff: bool = False,
                 extra_vars: dict | None = None, env: dict | None = None) -> PlaybookRun:
    """Runs ``tasks`` in a play on localhost through ansible-playbook and returns its JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    play = [{"name": "test", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]
    path = workdir / "playbook.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    command = [str(VENV / "bin" / "ansible-playbook"), "-i", "localhost,", str(path)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    run_env = {**os.environ,
               "ANSIBLE_COLLECTIONS_PATH": str(VENV / "collections"),
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0",
               **(env or {})}
    process = subprocess.run(command, cwd=workdir, env=run_env, capture_output=True, text=True, timeout=600,
                             check=False)
    try:
        report = json.loads(process.stdout[process.stdout.index("{"):])
    except ValueError:
        report = {}
    return PlaybookRun(process.returncode, process.stdout, process.stderr, report)
