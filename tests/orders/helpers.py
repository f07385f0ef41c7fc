"""Helpers shared by the Orders test modules (fixtures live in conftest.py)."""

import json
import threading
import uuid

from celery.result import allow_join_result
from common.schema import schema_fields
from django.conf import settings
from django.db import connection

from orders.exceptions import PaymentsUnavailable
from orders.models import Order, OrderState, can_transition
from orders.tasks import charge_waiting_orders, redrive_stuck_payments

ORDER_NUMBER_PATTERN = r"^[a-z0-9]{8}$"
MAX_CALLS = settings.ORDERS_PAYMENT_MAX_RETRIES + 1  # the first try and every retry


def assert_retries_payments_unavailable(task) -> None:
    """The task retries on PaymentsUnavailable only, with exponential backoff and jitter, as often
    and as far apart as the settings allow."""
    assert task.autoretry_for == (PaymentsUnavailable,)
    assert task.max_retries == settings.ORDERS_PAYMENT_MAX_RETRIES
    assert task.retry_backoff == 1
    assert task.retry_jitter is True
    assert task.retry_backoff_max == settings.ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS


def payment_body(order_number: str, status: str = "confirmed") -> dict:
    return {
        "orderNumber": order_number,
        "status": status,
        "transactionId": str(uuid.uuid4()),
        "name": "Ada",
        "address": "1 Loop Road",
        "price": "12.50",
    }


def batch_item(order_number: str, status: str = "confirmed", **fields) -> dict:
    """One result of POST /payment/batch: the payment, and whether it was a replay."""
    return {**payment_body(order_number, status), "replayed": False, **fields}


def batch_echo(status: str = "confirmed", *, refuse: dict[str, str] | None = None):
    """A `responses` callback that answers like Payments' batch endpoint: each order sent gets
    `status`, except those in `refuse` (order number -> error code), which get an item error."""
    refuse = refuse or {}

    def callback(request):
        results = []
        for item in json.loads(request.body)["payments"]:
            number = item["orderNumber"]
            if number in refuse:
                error = {"code": refuse[number], "message": "refused", "errors": {}}
                results.append({"orderNumber": number, "error": error})
            else:
                results.append(batch_item(number, status, price=item["price"]))
        return 200, {}, json.dumps({"results": results})

    return callback


def batch_refuse_all(code: str = "payment_conflict"):
    """A `responses` callback for the batch endpoint that refuses every order sent (an item
    error, which is not retried): the orders stay `created`."""

    def callback(request):
        sent = [item["orderNumber"] for item in json.loads(request.body)["payments"]]
        return batch_echo(refuse=dict.fromkeys(sent, code))(request)

    return callback


def sent_numbers(call) -> list[str]:
    """The order numbers a recorded call to the batch endpoint carried, in order."""
    return [item["orderNumber"] for item in json.loads(call.request.body)["payments"]]


def charge() -> int:
    """Run the charger as a wake-up would (eagerly): every waiting order, in batches."""
    return charge_waiting_orders.delay().get()


def assert_legal_history(order: Order) -> None:
    """The history is the path of states: it starts at `created`, each row starts where the
    previous one ended, and each transition is allowed (facts that change no state are events)."""
    rows = list(order.history.order_by("id"))
    assert rows
    assert (rows[0].from_state, rows[0].to_state) == (None, OrderState.CREATED)
    current = OrderState.CREATED
    for row in rows[1:]:
        assert row.from_state == current, [(r.from_state, r.to_state) for r in rows]
        assert can_transition(row.from_state, row.to_state), (row.from_state, row.to_state)
        current = row.to_state
    assert current == Order.objects.get(pk=order.pk).state


def redrive(capture) -> int:
    """Run the re-drive task and the tasks it queues on commit; `capture` is pytest-django's
    django_capture_on_commit_callbacks."""
    with capture(execute=True):
        return redrive_stuck_payments.delay().get()


def run_in_threads(*targets) -> list:
    """Start the callables together (a barrier lines them up) and return what each returned or
    raised. Each thread closes its own database connection."""
    barrier = threading.Barrier(len(targets))
    outcomes: list = [None] * len(targets)

    def runner(index, target):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = target()
        except Exception as exc:  # reported to the test, which decides what is acceptable
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=item) for item in enumerate(targets)]
    # Celery's eager apply_async marks "inside a task" in one process-wide flag, set and put back
    # around each run: threads running tasks at once can leave it set, and every later .get() of
    # an eager result in this process would then refuse. allow_join_result puts back its value.
    with allow_join_result():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


# Every order answer's fields, as the committed schema documents them.
ORDER_FIELDS = schema_fields("orders", "Order")
