"""`make run-prod` as it is: tools/launcher/run_local.py --supervise, whose supervisord restarts a
child that dies. The fault stack (fault_stack.py) starts each role on its own so that a scenario
restarts it when it chooses; a scenario about the supervisor itself needs the launcher instead.
It runs on the suite's PostgreSQL (fresh databases) and Redis (a database number of its own), with
the suite's short clocks and ports of its own, and offers what a Scenario reads from a system
(databases, broker_backlog, heal, processes.log_tail) besides the supervisor's controls."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
from fault_snapshot import Databases
from fault_stack import READY_TIMEOUT_SECONDS, ROOT, SETTINGS, run_local

LAUNCHER = ROOT / "tools" / "launcher" / "run_local.py"
# The launcher's line that names supervisord's configuration (tools/launcher/supervise.py).
CONFIG_LINE = re.compile(rb"supervisorctl -c (\S+) status")
STOP_SECONDS = 90  # supervisord stops its children one after the other, each within its grace


class SupervisedStack:
    def __init__(self, *, log_dir: Path, orders_db: str, payments_db: str, redis_url: str):
        self.log_dir = log_dir
        self.log = log_dir / "run-prod.log"
        self.orders_port, self.payments_port = run_local.free_port(), run_local.free_port()
        self.orders_url = f"http://127.0.0.1:{self.orders_port}"
        self.payments_url = f"http://127.0.0.1:{self.payments_port}"
        self.redis_url = redis_url
        self.databases = Databases(orders_db, payments_db)
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            **SETTINGS,
            "ORDERS_VAR_DIR": str(log_dir / "run-prod-orders-var"),
            "PAYMENTS_VAR_DIR": str(log_dir / "run-prod-payments-var"),
            "ORDERS_DATABASE_URL": orders_db,
            "PAYMENTS_DATABASE_URL": payments_db,
            "REDIS_URL": redis_url,
        }
        self.launcher: subprocess.Popen | None = None
        self.config: str | None = None
        self.processes = self  # what a Scenario asks of a system's processes: log_dir, log_tail

    def start(self) -> None:
        args = [sys.executable, str(LAUNCHER), "--supervise"]
        args += ["--orders-port", str(self.orders_port), "--payments-port", str(self.payments_port)]
        with self.log.open("ab") as out:
            self.launcher = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        # Migrations and collectstatic first, then every child under supervisord.
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS * 3
        while time.monotonic() < deadline and self.launcher.poll() is None:
            if self.config is None and (found := CONFIG_LINE.search(self.log.read_bytes())):
                self.config = found.group(1).decode()
            if self.config and self._ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"make run-prod did not come up:\n{self.log_tail()}")

    def _ready(self) -> bool:
        for url in (self.orders_url, self.payments_url):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    continue
            return False
        return self.state("beat") == "RUNNING" and self.state("worker") == "RUNNING"

    def stop(self) -> None:
        """SIGTERM to the launcher, which stops supervisord and so every child, in order."""
        if self.launcher is None or self.launcher.poll() is not None:
            return
        self.launcher.send_signal(signal.SIGTERM)
        try:
            self.launcher.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.launcher.kill()
            self.launcher.wait()

    # --- supervisord ----------------------------------------------------------------------------
    def _supervisorctl(self, *args: str) -> str:
        command = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.config), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        return done.stdout.strip()

    def pid(self, program: str) -> int:
        """The pid of `program` as supervisord started it; 0 while it is not running."""
        answer = self._supervisorctl("pid", program)
        return int(answer) if answer.isdigit() else 0

    def state(self, program: str) -> str:
        """RUNNING, STARTING, BACKOFF, EXITED, FATAL... (supervisorctl status)."""
        fields = self._supervisorctl("status", program).split()
        return fields[1] if len(fields) > 1 else "unknown"

    def kill(self, program: str) -> int:
        """SIGKILL the program's process, as the kernel's OOM killer would; its pid."""
        pid = self.pid(program)
        assert pid, f"{program} is not running: {self.state(program)}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, program: str, *, killed: int, timeout: float) -> float | None:
        """Seconds until supervisord has `program` RUNNING again under another pid; None if not
        within `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.state(program) == "RUNNING" and self.pid(program) not in (0, killed):
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    # --- what a Scenario reads ------------------------------------------------------------------
    allowed: dict[str, list[str]] = {}  # set by the fixture, as the suite's system's

    def heal(self) -> list[str]:
        return []  # supervisord's to do, and what the scenario measures

    def broker_backlog(self) -> tuple[int, int]:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            return client.llen("celery"), client.hlen("unacked")
        return -1, -1

    def log_tail(self, name: str = "", lines: int = 30) -> str:
        """The launcher's output (supervisord's and every child's), whichever role is asked."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
