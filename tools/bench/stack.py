"""The system under test for `make bench`: fresh PostgreSQL databases, a private Redis, and
tools/launcher/run_local.py (both web servers, the Celery worker and beat), plus a sampler that
keeps the peak memory of every process it starts."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))  # live_stack, the end-to-end suite's stack

from live_stack import free_port, fresh_postgres_database  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
START_TIMEOUT_SECONDS = 120
# Short enough for the run to see deliveries, long enough to be a real wait.
DELIVERY_DELAY_SECONDS = 2


def fresh_database(url: str | None, prefix: str):
    """A context manager yielding the URL of a new, empty database beside the one `url` names
    (default: the machine's PostgreSQL; the bench never runs on SQLite), dropped afterwards."""
    return fresh_postgres_database(url or f"{DEFAULT_SERVER}/postgres", prefix=prefix)


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def web_service(command: str, cwd: str) -> str | None:
    """ "orders" or "payments" for a web server's process (gunicorn, or granian run as
    servicekit.webserver, from the project's directory), else None."""
    if "celery" in command or not ("gunicorn" in command or "servicekit.webserver" in command):
        return None
    return "orders" if cwd.endswith("orders_project") else "payments"


class MemorySampler(threading.Thread):
    """Reads VmHWM (the kernel's peak resident set) of every web worker and Celery process
    twice a second. Sampling, not a read at the end: a web server replaces its workers now and
    then (gunicorn after GUNICORN_MAX_REQUESTS, granian over WEB_MAX_RSS_MIB), and a replaced
    worker's peak goes with it."""

    def __init__(self, roles: dict[str, int]):
        super().__init__(daemon=True)
        self.roles = roles  # role of the parent process -> its pid
        self.peaks: dict[str, dict[int, int]] = {}  # role -> pid -> peak kB
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for role, parent in self.roles.items():
            pids = children(parent) if role.endswith("child") else [parent]
            for pid in pids:
                if (kb := _status_kb(pid, "VmHWM")) is not None:
                    seen = self.peaks.setdefault(role, {})
                    seen[pid] = max(kb, seen.get(pid, 0))

    def stop(self) -> dict[str, dict[int, int]]:
        self.sample()
        self._stop_event.set()
        return self.peaks


# The per-client limit of POST /order during every run (the report's head says so).
RATE_LIMIT = "0"


class Stack:
    """`tools/launcher/run_local.py` on fresh databases and a private Redis, as `make run` runs
    it."""

    def __init__(
        self,
        workdir: Path,
        orders_db: str,
        payments_db: str,
        redis_url: str | None,
        *,
        retired_between_runs: bool = True,
    ):
        self.workdir = workdir
        self.retired_between_runs = retired_between_runs
        self.orders_db, self.payments_db = orders_db, payments_db
        self.orders_port, self.payments_port = free_port(), free_port()
        self.orders_url = f"http://127.0.0.1:{self.orders_port}"
        self.redis_port = None if redis_url else free_port()
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.log_path = workdir / "stack.log"
        self.process: subprocess.Popen | None = None
        self.sampler: MemorySampler | None = None

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_ENV": "local",
            "ORDERS_VAR_DIR": str(self.workdir / "orders"),
            "PAYMENTS_VAR_DIR": str(self.workdir / "payments"),
            "ORDERS_DATABASE_URL": self.orders_db,
            "PAYMENTS_DATABASE_URL": self.payments_db,
            "ORDERS_DELIVERY_DELAY_SECONDS": str(DELIVERY_DELAY_SECONDS),
            "ORDERS_DELIVERY_SWEEP_SECONDS": "1",
            # wrk sends every order from one address: a per-client limit would measure itself.
            # Off already where DJANGO_ENV=local; said so again whatever the environment holds.
            "ORDERS_CREATE_RATE_LIMIT": RATE_LIMIT,
            # The pipeline phase turns its webhook subscription on and off between runs.
            "ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS": "1",
        }
        if self.retired_between_runs:
            # The harness retires what a run leaves `created` (Bench.settle); until it does, the
            # re-drive sweep must not wake those orders up in the middle of the next run.
            env["ORDERS_PAYMENT_STUCK_AFTER_SECONDS"] = "3600"
        if self.redis_port:
            env["LOCAL_REDIS_PORT"] = str(self.redis_port)
        else:
            env["REDIS_URL"] = self.redis_url
        return env

    def start(self) -> None:
        args = [
            sys.executable,
            "tools/launcher/run_local.py",
            "--orders-port",
            str(self.orders_port),
            "--payments-port",
            str(self.payments_port),
        ]
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for port in (self.payments_port, self.orders_port):
            while not self._ready(port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start:\n{self.log_tail()}")
                time.sleep(0.25)
        self.sampler = MemorySampler(self._roles())
        self.sampler.start()

    @staticmethod
    def _ready(port: int) -> bool:
        try:
            url = f"http://127.0.0.1:{port}/health/ready"
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _roles(self) -> dict[str, int]:
        roles = {}
        for pid in children(self.process.pid):
            cmd = cmdline(pid)
            cwd = os.readlink(f"/proc/{pid}/cwd")
            if web_service(cmd, cwd):
                roles[f"{web_service(cmd, cwd)} web worker child"] = pid
            elif " worker" in cmd:
                roles["celery worker main"] = pid
                roles["celery worker pool child"] = pid
            elif " beat" in cmd:
                roles["celery beat main"] = pid
        return roles

    @contextlib.contextmanager
    def worker_paused(self):
        """SIGSTOP the Celery worker (its main and pool processes) for a diagnostic run of the
        web path alone; SIGCONT however the run ends."""
        main = self.sampler.roles["celery worker main"]
        pids = [main, *children(main)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def manage(self, *args: str) -> str:
        """An Orders manage.py command against this stack's database; its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT / "orders_project",
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> dict[str, dict[int, int]]:
        peaks = self.sampler.stop() if self.sampler else {}
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return peaks
