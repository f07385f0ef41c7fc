#!/usr/bin/env python3
"""Run the Postman collection with newman against a fresh real stack: `make postman`.

Starts both services, the worker, beat and Redis with docker/run_local.py, as the end-to-end
suite does (fresh SQLite files, or fresh PostgreSQL databases when ORDERS_DATABASE_URL /
PAYMENTS_DATABASE_URL are set; REDIS_URL is used as it is), runs newman with the stack's URLs
and token, stops the stack as Ctrl-C would, and exits with newman's status.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = "docs/postman/orders-payments.postman_collection.json"
ARTIFACTS = ROOT / "artifacts"
TOKEN = "postman-payments-token"  # not the default, so a run proves the variable is passed
DELIVERY_DELAY_SECONDS = 3
START_TIMEOUT_SECONDS = 90
NEWMAN_TIMEOUT_SECONDS = 300


def _e2e_helpers():
    """tests/e2e/conftest.py's free port and fresh PostgreSQL database helpers."""
    spec = importlib.util.spec_from_file_location("e2e_conftest", ROOT / "tests/e2e/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._free_port, module._fresh_postgres_database


def log(message: str) -> None:
    print(f"[run_newman] {message}", file=sys.stderr, flush=True)


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(urls: list[str], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    for url in urls:
        while not is_ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"the launcher exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready in {START_TIMEOUT_SECONDS}s")
            time.sleep(0.25)


def stop(process: subprocess.Popen) -> int | None:
    """What Ctrl-C does in `make run`: every process stops, cleanly, with exit code 0."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def newman(orders_url: str, payments_url: str) -> int:
    command = [
        "npx",
        "--no-install",
        "newman",
        "run",
        COLLECTION,
        "--env-var",
        f"ordersUrl={orders_url}",
        "--env-var",
        f"paymentsUrl={payments_url}",
        "--env-var",
        f"paymentsToken={TOKEN}",
        "--reporters",
        "cli,junit",
        "--reporter-junit-export",
        "artifacts/newman.xml",
        "--timeout-request",
        "10000",
        "--timeout",
        str(NEWMAN_TIMEOUT_SECONDS * 1000),
        "--bail",
    ]
    log(" ".join(command))
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main() -> int:
    free_port, fresh_postgres_database = _e2e_helpers()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "newman-stack.log"
    orders_port, payments_port = free_port(), free_port()
    with (
        tempfile.TemporaryDirectory(prefix="postman-") as tmp,
        fresh_postgres_database(os.environ.get("ORDERS_DATABASE_URL")) as orders_db,
        fresh_postgres_database(os.environ.get("PAYMENTS_DATABASE_URL")) as payments_db,
        log_path.open("w") as stack_log,
    ):
        env = {
            **os.environ,
            "DJANGO_ENV": "local",
            "ORDERS_VAR_DIR": f"{tmp}/orders",
            "PAYMENTS_VAR_DIR": f"{tmp}/payments",
            "PAYMENTS_API_TOKEN": TOKEN,
            "PAYMENTS_CONFIRM_PROBABILITY": os.environ.get("PAYMENTS_CONFIRM_PROBABILITY", "0.5"),
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
            stdout=stack_log,
            stderr=subprocess.STDOUT,
        )
        code = 1
        try:
            orders_url = f"http://127.0.0.1:{orders_port}"
            payments_url = f"http://127.0.0.1:{payments_port}"
            wait_ready([payments_url, orders_url], process)
            log(f"stack ready: Orders {orders_url}, Payments {payments_url} (log: {log_path})")
            code = newman(orders_url, payments_url)
        except RuntimeError as exc:
            log(f"{exc}; the stack's log ends with:\n{log_path.read_text()[-4000:]}")
        finally:
            stopped = stop(process)
            if stopped != 0:
                log(f"the launcher stopped with {stopped}:\n{log_path.read_text()[-4000:]}")
                code = code or 1
    log(f"newman exited with {code}; JUnit report: artifacts/newman.xml")
    return code


if __name__ == "__main__":
    sys.exit(main())
