"""Starting, watching and always stopping the test bed's daemons."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class TestbedError(RuntimeError):
    """A component of the test bed could not be built, started or reached."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2,
               on_timeout: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - the last error is reported on timeout
            last_error = exc
        time.sleep(interval)
    detail = on_timeout() if on_timeout else ""
    raise TestbedError(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" (last error: {last_error})" if last_error else "")
                       + (f"\n{detail}" if detail else ""))


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Daemon:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by the test bed
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})}, start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise TestbedError(f"{self.name} exited with code {self.process.returncode}; "
                               f"last lines of {self.log}:\n{tail(self.log)}")

    def stop(self, timeout: float = 10) -> None:
        if self.process is None:
            return
        kill_group(self.process.pid, timeout)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def kill_group(pid: int, timeout: float = 10) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap our own child so it does not linger as a zombie
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Supervisor:
    """Owns the daemons of one test bed and records their pids in ``state_file``.

    The record lets a later ``stop`` command (or the next run) end daemons that a killed run left.
    """

    def __init__(self, state_file: Path):
        self.state_file = Path(state_file)
        self.daemons: list[Daemon] = []

    def start(self, daemon: Daemon) -> Daemon:
        daemon.start()
        self.daemons.append(daemon)
        self._record()
        return daemon

    def _record(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        pids = {d.name: d.pid for d in self.daemons if d.pid}
        self.state_file.write_text(json.dumps({"pids": pids}))

    def check_alive(self) -> None:
        for daemon in self.daemons:
            daemon.check_alive()

    def stop_all(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()
        self.state_file.unlink(missing_ok=True)

    @staticmethod
    def stop_recorded(state_file: Path) -> list[str]:
        """Stops the daemons a state file records; returns their names."""
        state_file = Path(state_file)
        if not state_file.exists():
            return []
        pids = json.loads(state_file.read_text()).get("pids", {})
        for pid in reversed(list(pids.values())):
            kill_group(int(pid))
        state_file.unlink(missing_ok=True)
        return list(pids)
