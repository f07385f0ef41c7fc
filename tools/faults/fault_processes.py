"""Child processes by role, started in their own process group and stopped for good."""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

STOP_GRACE_SECONDS = 10


class Processes:
    """Children by role, each the leader of its own process group: a signal reaches the web server's
    workers and Celery's pool too, and nothing outlives the suite. Whatever is left of a group
    once its leader is gone is found through /proc by the log directory in its environment, so
    that a signal never reaches a process this suite did not start."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}
        self.groups: set[int] = set()

    def start(self, name: str, args: list[str], *, cwd: Path, env: dict) -> subprocess.Popen:
        assert str(self.log_dir) in "".join(env.values()), "the marker of our processes"
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running[name] = process
        self.groups.add(process.pid)
        return process

    def alive(self, name: str) -> bool:
        process = self.running.get(name)
        return process is not None and process.poll() is None

    def _members(self, pgid: int) -> list[int]:
        """The live processes of group `pgid` that carry our log directory in their environment."""
        marker, members = str(self.log_dir).encode(), []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                group = int((entry / "stat").read_text().rpartition(")")[2].split()[2])
                if group == pgid and marker in (entry / "environ").read_bytes():
                    members.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return members

    def _kill_leftovers(self, pgid: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while (members := self._members(pgid)) and time.monotonic() < deadline:
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def kill(self, name: str) -> None:
        """SIGKILL the whole group: no goodbye, no ack, no graceful shutdown."""
        process = self.running.pop(name)
        if process.poll() is None:  # the leader lives: the group is ours
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_SECONDS)
        self._kill_leftovers(process.pid)

    def stop(self, name: str) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left after the grace period."""
        process = self.running.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE_SECONDS)
        self._kill_leftovers(process.pid)

    def stop_all(self, order: list[str]) -> None:
        for name in [*order, *self.running]:
            self.stop(name)
        for pgid in self.groups:  # orphans of a leader killed earlier, if any
            self._kill_leftovers(pgid)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
