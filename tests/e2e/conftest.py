"""Start the real system (both web servers, the Celery worker and beat, Redis) with
tools/launcher/run_local.py, as `make run` does (two web workers per service), and hand the tests
its two base URLs.

On the embedded default each run gets fresh SQLite files and its own Redis. When
ORDERS_DATABASE_URL / PAYMENTS_DATABASE_URL point at PostgreSQL, fresh databases are created
beside the named ones and dropped afterwards; REDIS_URL, when set, names the Redis server and the
database of the first stack: a stack started while another runs (this session's, below) takes the
next free database below it (tools/live_stack.py), so that no worker of this run takes another
stack's tasks.
"""

from dataclasses import dataclass

import pytest
from launcher_scripts import load_launcher_script
from live_stack import ROOT, StackError, live_stack, processes_left

run_local = load_launcher_script("run_local")

TOKEN = "e2e-payments-token"
DELIVERY_DELAY_SECONDS = 4
READ_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Stack:
    orders_url: str
    payments_url: str
    token: str
    delivery_delay: int
    env: dict  # the launcher's environment, to run manage.py against the same databases

    def manage(self, project: str, *args: str) -> str:
        """Run a manage.py command of "orders_project" or "payments_project"; return its output."""
        return run_local.manage_output(ROOT / project, *args, env=self.env)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    settings = {
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_CONFIRM_PROBABILITY": "0.5",
        "ORDERS_DELIVERY_DELAY_SECONDS": str(DELIVERY_DELAY_SECONDS),
        "ORDERS_DELIVERY_SWEEP_SECONDS": "1",
        # test_timeout_then_confirm answers later than Orders waits: the unknown outcome.
        "PAYMENTS_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
        "PAYMENTS_TEST_SLOW_ANSWER_SECONDS": str(READ_TIMEOUT_SECONDS + 2),
        "ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS": "2",
        # Webhooks (test_webhooks.py): a subscription is seen within a second, and a failing
        # endpoint is tried again within seconds, for about half a minute.
        "ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS": "1",
        "ORDERS_WEBHOOK_RETRY_SCHEDULE": "1,1,2,2,4,4,8",
        "ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS": "1",
    }
    try:
        with live_stack(tmp_path_factory.mktemp("stack"), **settings) as live:
            yield Stack(live.orders_url, live.payments_url, TOKEN, DELIVERY_DELAY_SECONDS, live.env)
    except StackError as exc:
        pytest.fail(str(exc))
    # What Ctrl-C does in `make run`: everything stops, cleanly, with exit code 0, and nothing
    # is left running.
    assert live.exit_code == 0, f"launcher stopped with {live.exit_code}:\n{live.log_tail()}"
    assert not processes_left(live), processes_left(live)
