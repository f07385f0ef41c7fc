"""Helpers shared by the Orders test modules (fixtures live in conftest.py)."""

import json
import threading
import uuid

from django.conf import settings
from django.db import connection

from orders.models import Order, OrderState, can_transition
from orders.tasks import redrive_stuck_payments

ORDER_NUMBER_PATTERN = r"^[a-z0-9]{8}$"
MAX_CALLS = settings.ORDERS_PAYMENT_MAX_RETRIES + 1  # the first try and every retry


def payment_body(order_number: str, status: str = "confirmed") -> dict:
    return {
        "orderNumber": order_number,
        "status": status,
        "transactionId": str(uuid.uuid4()),
        "name": "Ada",
        "address": "1 Loop Road",
        "price": "12.50",
    }


def payment_echo(status: str = "confirmed"):
    """A `responses` callback that answers like Payments for whichever order was sent."""

    def callback(request):
        sent = json.loads(request.body)
        return 201, {}, json.dumps(payment_body(sent["orderNumber"], status))

    return callback


def assert_error_shape(body: dict) -> None:
    """The one error shape: {"code", "message", "errors": {field: [message, ...]}}."""
    assert set(body) == {"code", "message", "errors"}, body
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], dict)
    for field, messages in body["errors"].items():
        assert isinstance(messages, list), field
        assert messages, field
        assert all(isinstance(message, str) for message in messages), field


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """A JSON error answer in the one shape, with this status, code and these field errors."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == code
    assert set(body["errors"]) == set(fields)
    return body


def assert_legal_history(order: Order) -> None:
    """The history starts at `created`, each row starts where the previous one ended, and each
    move is allowed; a row from a state to itself is a note (a late payment result, a refund)."""
    rows = list(order.history.order_by("id"))
    assert rows
    assert (rows[0].from_state, rows[0].to_state) == (None, OrderState.CREATED)
    current = OrderState.CREATED
    for row in rows[1:]:
        assert row.from_state == current, [(r.from_state, r.to_state) for r in rows]
        if row.to_state == row.from_state:
            assert "after cancellation" in row.reason or "refund" in row.reason, row.reason
        else:
            assert can_transition(row.from_state, row.to_state)
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
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes
