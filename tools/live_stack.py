"""Start the real system for a test run, as `make run` does: tools/launcher/run_local.py on free
ports (two web workers per service, WEB_WORKERS below) with fresh SQLite files, or fresh PostgreSQL
databases when ORDERS_DATABASE_URL / PAYMENTS_DATABASE_URL point at a server (dropped
afterwards); with REDIS_URL, on that Redis server, in a database no other running stack of this
process uses.

Shared by the end-to-end suite (tests/e2e), `make postman` and `make fuzz`."""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 60
REDIS_DATABASES = 16  # redis-server's default `databases`

# The Redis databases of the stacks running in this process (tests/e2e keeps its session stack
# up while other tests start their own).
_redis_databases_in_use: set[int] = set()
# Web server workers per service unless the environment says otherwise: two, as make run's
# (servicekit/webserver.py), set here so that a changed default does not slow every test stack:
# each worker imports Django by itself, a good part of a stack start's CPU, and two already are
# the several processes whose metrics one scrape adds up (e2e/test_observability.py).
WEB_WORKERS = "2"


class StackError(RuntimeError):
    """The stack did not come up; the message ends with its log."""


@dataclass
class LiveStack:
    orders_url: str
    payments_url: str
    env: dict  # the launcher's environment, to run manage.py against the same databases
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def exit_code(self) -> int | None:
        """The launcher's exit code once stopped: 0 when every process stopped cleanly."""
        return self.process.returncode

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def fresh_postgres_database(url: str | None, prefix: str = "live") -> Iterator[str | None]:
    """Yield the URL of a new, empty database on the server `url` names (None: SQLite), named
    <prefix>_<random>; dropped afterwards. tools/bench/stack.py uses it too."""
    if not url:
        yield None
        return
    base, _, _ = url.rpartition("/")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def own_redis_database(url: str | None) -> Iterator[str | None]:
    """Yield `url` (a REDIS_URL; None: the launcher starts its own Redis) if no other running
    stack uses its database, else the URL of the nearest free database below it, wrapping round.

    Two stacks on one Redis database share their queues and the charger's wake-up guard: each
    one's worker takes the other's tasks, and runs them against its own database, where those
    orders do not exist. Only the stacks of this process are known: two test runs at once on one
    REDIS_URL still meet. The databases below are used as they are, never flushed."""
    if not url:
        yield None
        return
    parts = urlsplit(url)
    path_database = parts.path.strip("/") or "0"  # no path: database 0, as redis-py reads it
    if parts.scheme not in ("redis", "rediss") or parts.query or not path_database.isdigit():
        raise StackError(
            f"REDIS_URL {url!r}: the test stacks take redis://host:port/<database> (or rediss://)"
        )
    named = int(path_database)
    candidates = ((named - step) % REDIS_DATABASES for step in range(REDIS_DATABASES))
    database = next((db for db in candidates if db not in _redis_databases_in_use), None)
    if database is None:
        raise StackError(f"every Redis database of {url} is in use by a running stack")
    _redis_databases_in_use.add(database)
    try:
        yield parts._replace(path=f"/{database}").geturl()
    finally:
        _redis_databases_in_use.discard(database)


def _is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_ready(stack: LiveStack) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    for url in (stack.payments_url, stack.orders_url):
        while not _is_ready(url):
            if stack.process.poll() is not None:
                raise StackError(f"the launcher exited with {stack.exit_code}:\n{stack.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{url} not ready in {START_TIMEOUT_SECONDS}s:\n{stack.log_tail()}"
                )
            time.sleep(0.25)


def processes_left(stack: LiveStack) -> list[str]:
    """The command lines of the processes still running with this stack's environment (its own
    var dir): none once it stopped, or one of them outlived the launcher (a web server's worker
    whose parent was killed, say)."""
    marker = stack.env["ORDERS_VAR_DIR"].encode()
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes():
                left.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return left


def _stop(process: subprocess.Popen) -> None:
    """What Ctrl-C does in `make run`: every process stops, cleanly, with exit code 0."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def live_stack(
    workdir: Path, *, launcher_args: tuple[str, ...] = (), **settings: str
) -> Iterator[LiveStack]:
    """Run the system with `settings` (environment variables) until the block ends; yield it
    once both services answer /health/ready. Its log goes to workdir/stack.log, opened for
    appending: under supervisord (`launcher_args=("--supervise",)`) the children's output
    reaches it through /dev/stdout, opened again, and must not overwrite the launcher's."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "stack.log"
    orders_port, payments_port = free_port(), free_port()
    with (
        fresh_postgres_database(os.environ.get("ORDERS_DATABASE_URL")) as orders_db,
        fresh_postgres_database(os.environ.get("PAYMENTS_DATABASE_URL")) as payments_db,
        own_redis_database(os.environ.get("REDIS_URL")) as redis_url,
        log_path.open("a") as log,
    ):
        env = {
            "WEB_WORKERS": WEB_WORKERS,
            **os.environ,
            "DJANGO_ENV": "local",
            "ORDERS_VAR_DIR": str(workdir / "orders"),
            "PAYMENTS_VAR_DIR": str(workdir / "payments"),
            **settings,
        }
        for key, value in (
            ("ORDERS_DATABASE_URL", orders_db),
            ("PAYMENTS_DATABASE_URL", payments_db),
            ("REDIS_URL", redis_url),
        ):
            if value:
                env[key] = value
        launcher = [
            sys.executable,
            "tools/launcher/run_local.py",
            "--orders-port",
            str(orders_port),
            "--payments-port",
            str(payments_port),
            *launcher_args,
        ]
        process = subprocess.Popen(
            launcher, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        stack = LiveStack(
            f"http://127.0.0.1:{orders_port}",
            f"http://127.0.0.1:{payments_port}",
            env,
            log_path,
            process,
        )
        try:
            _wait_ready(stack)
            yield stack
        finally:
            _stop(process)
