"""Infrastructure faults at request time. With the broker down, a request that was stored still
answers with success: the task it could not queue is queued later by the re-drive sweep (tested
in test_tasks / test_compensation). A lost database connection is a 503 to retry, not a 500."""

import pytest
from kombu.exceptions import OperationalError

from orders.models import Order, OrderState
from orders.tasks import refund_payment, request_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(request_payment, "delay", refuse)
    monkeypatch.setattr(refund_payment, "delay", refuse)


@pytest.mark.usefixtures("broker_down")
def test_order_create_api_answers_201_when_the_payment_cannot_be_queued(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post(
            "/order", {"name": "Ada", "address": "1 Loop Road", "price": "3.00"}, format="json"
        )

    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # the queueing was attempted, and failed
    order = Order.objects.get(number=response.json()["orderNumber"])
    assert order.state == OrderState.CREATED  # waiting for the re-drive sweep


@pytest.mark.usefixtures("broker_down")
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
