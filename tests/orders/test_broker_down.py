"""Infrastructure faults at request time. With the broker down, a request that was stored still
answers with success: the task it could not queue is queued later by the re-drive sweep. A lost
database connection is a 503 to retry, not a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone
from helpers import batch_echo, redrive, sent_numbers
from kombu.exceptions import OperationalError

from orders.models import Order, OrderState
from orders.tasks import charge_waiting_orders, refund_payment

pytestmark = pytest.mark.django_db


class Broker:
    """The broker as the tasks' publish sees it: refusing while `down`."""

    down = True


@pytest.fixture
def broker(monkeypatch) -> Broker:
    state = Broker()
    for task in (charge_waiting_orders, refund_payment):

        def publish(*args, _real=task.apply_async, **kwargs):
            if state.down:
                raise OperationalError(
                    "Error 111 connecting to 127.0.0.1:6379. Connection refused."
                )
            return _real(*args, **kwargs)

        monkeypatch.setattr(task, "apply_async", publish)
    return state


def test_order_create_api_answers_201_when_the_charger_cannot_be_woken(
    api_client, broker, http, batch_url, django_capture_on_commit_callbacks
):
    http.add_callback("POST", batch_url, callback=batch_echo())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post(
            "/order", {"name": "Ada", "address": "1 Loop Road", "price": "3.00"}, format="json"
        )

    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # the wake-up was attempted, and failed
    order = Order.objects.get(number=response.json()["orderNumber"])
    assert order.state == OrderState.CREATED  # waiting for the re-drive sweep
    assert len(http.calls) == 0

    # The broker is back; the re-drive finds the order waiting and wakes the charger for it.
    broker.down = False
    Order.objects.filter(pk=order.pk).update(
        payment_requested_at=timezone.now() - timedelta(seconds=3)
    )
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert [sent_numbers(call) for call in http.calls] == [[order.number]]
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED


@pytest.mark.usefixtures("broker")
def test_order_cancel_api_answers_200_when_the_refund_cannot_be_queued(
    api_client, make_order, django_capture_on_commit_callbacks
):
    order = make_order(state=OrderState.CONFIRMED)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.put(f"/order/cancel/{order.number}")

    assert response.status_code == 200, response.content
    assert len(callbacks) == 1
    cancelled = Order.objects.get(pk=order.pk)
    assert cancelled.state == OrderState.CANCELLED
    assert cancelled.refund_queued_at is not None  # still due: the re-drive will send it


def test_order_status_api_answers_503_when_the_database_connection_is_lost(api_client, monkeypatch):
    from django.db import OperationalError as DatabaseOperationalError

    from orders import selectors

    def connection_lost(**kwargs):
        raise DatabaseOperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(selectors, "order_get", connection_lost)

    response = api_client.get("/order/status/abcd1234")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "code": "service_unavailable",
        "message": "The service is briefly unavailable; retry shortly.",
        "errors": {},
    }
