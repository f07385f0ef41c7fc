#!/usr/bin/env python3
"""Run the Postman collection with newman against a fresh real stack: `make postman`.

Starts both services, the worker, beat and Redis with tools/launcher/run_local.py, as the end-to-end
suite does (tools/live_stack.py), runs newman with the stack's URLs and token, stops the stack
as Ctrl-C would, and exits with newman's status.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from live_stack import StackError, live_stack  # noqa: E402

COLLECTION = "docs/postman/orders-payments.postman_collection.json"
TOKEN = "postman-payments-token"  # not the default, so a run proves the variable is passed
DELIVERY_DELAY_SECONDS = 3
NEWMAN_TIMEOUT_SECONDS = 300


def log(message: str) -> None:
    print(f"[run_newman] {message}", file=sys.stderr, flush=True)


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
    settings = {
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_CONFIRM_PROBABILITY": os.environ.get("PAYMENTS_CONFIRM_PROBABILITY", "0.5"),
        "ORDERS_DELIVERY_DELAY_SECONDS": str(DELIVERY_DELAY_SECONDS),
        "ORDERS_DELIVERY_SWEEP_SECONDS": "1",
    }
    (ROOT / "artifacts").mkdir(exist_ok=True)  # newman's JUnit report goes there
    code = 1
    with tempfile.TemporaryDirectory(prefix="postman-") as tmp:
        try:
            with live_stack(Path(tmp), **settings) as stack:
                log(f"stack ready: Orders {stack.orders_url}, Payments {stack.payments_url}")
                code = newman(stack.orders_url, stack.payments_url)
        except StackError as exc:
            log(str(exc))
            return 1
        if stack.exit_code != 0:
            log(f"the launcher stopped with {stack.exit_code}:\n{stack.log_tail()}")
            code = code or 1
    log(f"newman exited with {code}; JUnit report: artifacts/newman.xml")
    return code


if __name__ == "__main__":
    sys.exit(main())
