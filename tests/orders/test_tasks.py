"""The payment task against Payments mocked at the HTTP boundary with `responses`."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from helpers import MAX_CALLS, payment_body, redrive

from orders import services, sweeps
from orders.exceptions import PaymentRejected, PaymentsUnavailable
from orders.models import Order, OrderState
from orders.tasks import redrive_stuck_payments, request_payment

pytestmark = pytest.mark.django_db


def state_of(order) -> str:
    return Order.objects.get(pk=order.pk).state


# 201: Payments charged now; 200: it had already charged this order number and answers the same.
@pytest.mark.parametrize("http_status", [201, 200])
def test_request_payment_confirms_the_order(make_order, http, payment_url, http_status):
    order = make_order()
    http.add("POST", payment_url, json=payment_body(order.number), status=http_status)

    request_payment.delay(order.number)

    assert state_of(order) == OrderState.CONFIRMED
    assert len(http.calls) == 1
    last = order.history.order_by("-id").first()
    assert last.reason.startswith("payment confirmed (")


def test_request_payment_declined_cancels_the_order(make_order, http, payment_url):
    order = make_order()
    http.add("POST", payment_url, json=payment_body(order.number, "declined"), status=201)

    request_payment.delay(order.number)

    assert state_of(order) == OrderState.CANCELLED
    assert order.history.filter(from_state="created", to_state="cancelled").count() == 1


def test_request_payment_refunded_replay_cancels_without_a_new_refund(
    make_order, http, payment_url, django_capture_on_commit_callbacks
):
    order = make_order()
    http.add("POST", payment_url, json=payment_body(order.number, "refunded"), status=200)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        request_payment.delay(order.number)

    assert state_of(order) == OrderState.CANCELLED
    assert Order.objects.get(pk=order.pk).refund_requested_at is None
    assert queued == []  # nothing charged: no refund task
    assert len(http.calls) == 1


def test_request_payment_sends_the_order_and_the_service_token(make_order, http, payment_url):
    order = make_order(name="Ada", address="1 Loop Road", price=Decimal("12.5"))
    http.add("POST", payment_url, json=payment_body(order.number), status=201)

    request_payment.delay(order.number)

    sent = http.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {settings.PAYMENTS_API_TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "orderNumber": order.number,
        "name": "Ada",
        "address": "1 Loop Road",
        "price": "12.50",
    }


def test_request_payment_reads_url_and_token_from_settings(make_order, http, other_payments):
    order = make_order()
    http.add("POST", other_payments, json=payment_body(order.number), status=201)

    request_payment.delay(order.number)

    assert http.calls[0].request.url == other_payments
    assert http.calls[0].request.headers["Authorization"] == "Bearer another-token"
    assert state_of(order) == OrderState.CONFIRMED


@pytest.mark.parametrize(
    "first_answer",
    [
        pytest.param({"body": requests.exceptions.ConnectTimeout("slow")}, id="connect-timeout"),
        pytest.param({"body": requests.exceptions.ReadTimeout("slow")}, id="read-timeout"),
        pytest.param({"body": requests.exceptions.ConnectionError("refused")}, id="refused"),
        pytest.param({"status": 500, "json": {"error": "boom"}}, id="500"),
        pytest.param({"status": 502, "body": "<html>bad gateway</html>"}, id="502-html"),
        pytest.param({"status": 503, "json": {}}, id="503"),
        pytest.param({"status": 504, "body": ""}, id="504"),
        pytest.param({"status": 429, "json": {}, "headers": {"Retry-After": "1"}}, id="429"),
        pytest.param({"status": 201, "body": "not json"}, id="201-not-json"),
        pytest.param(
            {"status": 201, "json": {"orderNumber": "someone1", "status": "confirmed"}},
            id="201-other-order",
        ),
        pytest.param({"status": 201, "json": {"status": "pending"}}, id="201-unknown-status"),
    ],
)
def test_request_payment_retries_until_payments_answers(
    make_order, http, payment_url, first_answer
):
    order = make_order()
    http.add("POST", payment_url, **first_answer)
    http.add("POST", payment_url, json=payment_body(order.number), status=201)

    request_payment.delay(order.number)

    assert len(http.calls) == 2
    assert json.loads(http.calls[0].request.body) == json.loads(http.calls[1].request.body)
    assert state_of(order) == OrderState.CONFIRMED
    assert order.history.count() == 2


@pytest.mark.parametrize("transaction_id", [None, "", 42, "x" * 65])
def test_request_payment_retries_an_unreadable_transaction_id(
    make_order, http, payment_url, transaction_id
):
    order = make_order()
    http.add(
        "POST", payment_url, json={**payment_body(order.number), "transactionId": transaction_id}
    )
    http.add("POST", payment_url, json=payment_body(order.number), status=201)

    request_payment.delay(order.number)

    assert len(http.calls) == 2
    assert state_of(order) == OrderState.CONFIRMED


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422])
def test_request_payment_does_not_retry_a_refusal(make_order, http, payment_url, status):
    order = make_order()
    http.add("POST", payment_url, json={"code": "refused", "message": "no"}, status=status)

    result = request_payment.delay(order.number)

    assert len(http.calls) == 1
    assert result.failed()
    assert isinstance(result.result, PaymentRejected)
    assert state_of(order) == OrderState.CREATED
    assert order.history.count() == 1


def test_request_payment_gives_up_after_max_retries_and_leaves_the_order_created(
    make_order, http, payment_url
):
    order = make_order()
    http.add("POST", payment_url, body=requests.exceptions.ConnectTimeout("down"))

    result = request_payment.delay(order.number)

    assert len(http.calls) == MAX_CALLS
    assert result.failed()
    assert isinstance(result.result, PaymentsUnavailable)
    assert state_of(order) == OrderState.CREATED
    assert order.history.count() == 1


def wait_since(order, seconds: float) -> None:
    past = timezone.now() - timedelta(seconds=seconds)
    Order.objects.filter(pk=order.pk).update(payment_requested_at=past)


def test_redrive_requeues_an_order_stuck_after_exhausted_retries(
    make_order, http, payment_url, django_capture_on_commit_callbacks
):
    order = make_order()
    for _ in range(MAX_CALLS):
        http.add("POST", payment_url, status=503)
    http.add("POST", payment_url, json=payment_body(order.number), status=201)
    request_payment.delay(order.number)
    assert len(http.calls) == MAX_CALLS
    assert state_of(order) == OrderState.CREATED

    assert redrive(django_capture_on_commit_callbacks) == 0  # too recent to be called stuck
    assert len(http.calls) == MAX_CALLS

    wait_since(order, settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS + 1)
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert len(http.calls) == MAX_CALLS + 1
    assert state_of(order) == OrderState.CONFIRMED
    history = list(order.history.values_list("from_state", "to_state"))
    assert history == [(None, "created"), ("created", "confirmed")]


def test_redrive_uses_the_configured_stuck_age(
    make_order, http, payment_url, settings, django_capture_on_commit_callbacks
):
    settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS = 30
    order = make_order()
    http.add("POST", payment_url, json=payment_body(order.number), status=201)
    wait_since(order, 20)
    assert redrive(django_capture_on_commit_callbacks) == 0

    wait_since(order, 31)
    assert redrive(django_capture_on_commit_callbacks) == 1
    assert state_of(order) == OrderState.CONFIRMED


def test_redrive_requeues_an_order_once_per_stuck_period(
    make_order, http, payment_url, django_capture_on_commit_callbacks
):
    order = make_order()
    http.add("POST", payment_url, status=409, json={"code": "payment_conflict"})
    wait_since(order, settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS + 1)

    assert redrive(django_capture_on_commit_callbacks) == 1
    assert redrive(django_capture_on_commit_callbacks) == 0  # its clock started again
    assert len(http.calls) == 1
    assert state_of(order) == OrderState.CREATED


def test_redrive_gives_every_stuck_order_a_turn(make_order, http, settings):
    settings.ORDERS_SWEEP_BATCH_SIZE = 2
    orders = [make_order() for _ in range(5)]
    for age, order in enumerate(orders):
        wait_since(order, settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS + 100 - age)

    picked = [sweeps.orders_redrive_stuck_payments() for _ in range(3)]

    assert picked == [
        [orders[0].number, orders[1].number],
        [orders[2].number, orders[3].number],
        [orders[4].number],
    ]


@pytest.mark.parametrize("state", [OrderState.CONFIRMED, OrderState.CANCELLED])
def test_redrive_leaves_orders_that_are_no_longer_created(make_order, http, state):
    order = make_order(state=state)
    wait_since(order, 86400)

    assert redrive_stuck_payments.delay().get() == 0
    assert len(http.calls) == 0


@pytest.mark.parametrize("state", [OrderState.CANCELLED, OrderState.CONFIRMED])
def test_request_payment_makes_no_call_for_an_order_past_created(make_order, http, state):
    order = make_order(state=state)

    request_payment.delay(order.number)

    assert len(http.calls) == 0
    assert state_of(order) == state


def test_request_payment_for_an_unknown_order_makes_no_call(http):
    result = request_payment.delay("zzzzzzzz")

    assert result.successful()
    assert len(http.calls) == 0


def test_request_payment_delivered_twice_moves_the_order_once(make_order, http, payment_url):
    order = make_order()
    http.add("POST", payment_url, json=payment_body(order.number), status=201)

    request_payment.delay(order.number)
    request_payment.delay(order.number)

    assert state_of(order) == OrderState.CONFIRMED
    assert order.history.count() == 2
    assert len(http.calls) == 1  # the second delivery sees `confirmed` and stops


def test_request_payment_result_after_cancel_is_noted_not_applied(make_order, http, payment_url):
    order = make_order()

    def cancel_while_in_flight(request):
        # The customer cancels while Payments is still charging the order.
        services.order_cancel(order_number=order.number)
        return 201, {}, json.dumps(payment_body(order.number))

    http.add_callback("POST", payment_url, callback=cancel_while_in_flight)

    request_payment.delay(order.number)

    assert state_of(order) == OrderState.CANCELLED
    rows = list(order.history.values_list("from_state", "to_state", "reason"))
    assert [row[:2] for row in rows] == [
        (None, "created"),
        ("created", "cancelled"),
        ("cancelled", "cancelled"),
    ]
    assert "after cancellation" in rows[-1][2]
