"""Start the real system (both gunicorn servers, the Celery worker and beat, Redis) with
docker/run_local.py, exactly as `make run` does, and hand the tests its two base URLs.

On the embedded default each run gets fresh SQLite files and its own Redis. When
ORDERS_DATABASE_URL / PAYMENTS_DATABASE_URL point at PostgreSQL, fresh databases are created
beside the named ones and dropped afterwards; REDIS_URL, when set, is used as it is.
"""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-payments-token"
DELIVERY_DELAY_SECONDS = 4
START_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class Stack:
    orders_url: str
    payments_url: str
    token: str
    delivery_delay: int
    env: dict  # the launcher's environment, to run manage.py against the same databases

    def manage(self, project: str, *args: str) -> str:
        """Run a manage.py command of "orders_project" or "payments_project"; return its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT / project,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _fresh_postgres_database(url: str | None):
    """Yield the URL of a new, empty database on the server `url` names (None: SQLite)."""
    if not url:
        yield None
        return
    base, _, _ = url.rpartition("/")
    name = f"e2e_{secrets.token_hex(4)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_ready(urls: list[str], process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"launcher exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            if requests.get(pending[0] + "/health/ready", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        time.sleep(0.25)
    if pending:
        pytest.fail(
            f"{pending} not ready in {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()[-4000:]}"
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    log_path = tmp / "stack.log"
    orders_port, payments_port = _free_port(), _free_port()
    with (
        _fresh_postgres_database(os.environ.get("ORDERS_DATABASE_URL")) as orders_db,
        _fresh_postgres_database(os.environ.get("PAYMENTS_DATABASE_URL")) as payments_db,
        log_path.open("w") as log,
    ):
        env = {
            **os.environ,
            "DJANGO_ENV": "local",
            "ORDERS_VAR_DIR": str(tmp / "orders"),
            "PAYMENTS_VAR_DIR": str(tmp / "payments"),
            "PAYMENTS_API_TOKEN": TOKEN,
            "PAYMENTS_CONFIRM_PROBABILITY": "0.5",
            "ORDERS_DELIVERY_DELAY_SECONDS": str(DELIVERY_DELAY_SECONDS),
            "ORDERS_DELIVERY_SWEEP_SECONDS": "1",
        }
        for key, value in (
            ("ORDERS_DATABASE_URL", orders_db),
            ("PAYMENTS_DATABASE_URL", payments_db),
        ):
            if value:
                env[key] = value
        process = subprocess.Popen(
            [
                sys.executable,
                "docker/run_local.py",
                "--orders-port",
                str(orders_port),
                "--payments-port",
                str(payments_port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            orders_url = f"http://127.0.0.1:{orders_port}"
            payments_url = f"http://127.0.0.1:{payments_port}"
            _wait_ready([payments_url, orders_url], process, log_path)
            yield Stack(orders_url, payments_url, TOKEN, DELIVERY_DELAY_SECONDS, env)
        finally:
            # What Ctrl-C does in `make run`: everything stops, cleanly, with exit code 0.
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                code = "killed after 60s"
            assert code == 0, f"launcher stopped with {code}:\n{log_path.read_text()[-4000:]}"
