"""Refunds: a cancelled order that was (or may have been) charged gets its payment back, exactly
once, through POST /payment/<orderNumber>/refund mocked with `responses`, and the outcome is an
event of the order (its state history only holds changes of state); and GET /health/ready
counts the orders stuck waiting for Payments."""

import json
import uuid
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from helpers import MAX_CALLS, assert_legal_history, batch_echo, charge, redrive

from orders import services, sweeps
from orders.exceptions import PaymentRefused, PaymentsUnavailable
from orders.models import Order, OrderEventKind, OrderState
from orders.selectors import orders_stuck_count
from orders.tasks import refund_payment

pytestmark = pytest.mark.django_db

STUCK = timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)


def refund_url(number: str) -> str:
    return settings.PAYMENTS_URL + f"/payment/{number}/refund"


def refund_body(number: str, transaction_id: str | None = None) -> dict:
    return {
        "orderNumber": number,
        "status": "refunded",
        "transactionId": transaction_id or str(uuid.uuid4()),
        "price": "12.50",
        "refundedAt": timezone.now().isoformat(),
    }


def fresh(order) -> Order:
    return Order.objects.get(pk=order.pk)


REFUND_OUTCOMES = (OrderEventKind.REFUNDED, OrderEventKind.REFUND_NOT_NEEDED)


def refund_events(order) -> list[tuple[str, str, str]]:
    """The refund outcomes recorded for the order: (kind, detail, transaction id), oldest first.
    Each comes from Payments, and none is a row of the state history."""
    rows = order.events.filter(kind__in=REFUND_OUTCOMES)
    assert {row.actor for row in rows} <= {"payments"}
    assert_legal_history(order)  # no row from a state to itself
    return list(rows.values_list("kind", "detail", "transaction_id"))


def refunded_event(transaction_id: str) -> tuple[str, str, str]:
    return (OrderEventKind.REFUNDED, "payment refunded", transaction_id)


def late(status: str, transaction_id: str) -> tuple[str, str, str]:
    detail = f"payment {status} after cancellation"
    return (OrderEventKind.PAYMENT_AFTER_CANCELLATION, detail, transaction_id)


def all_events(order) -> list[tuple[str, str, str]]:
    return list(order.events.values_list("kind", "detail", "transaction_id"))


def cancelled_with_refund_due(make_order) -> Order:
    """A confirmed order cancelled by its customer; the refund task it queued is not run."""
    order = make_order(state=OrderState.CONFIRMED)
    services.order_cancel(order_number=order.number)  # on-commit hooks do not run in the test
    return fresh(order)


def age_refund(order, age: timedelta) -> None:
    Order.objects.filter(pk=order.pk).update(refund_queued_at=timezone.now() - age)


# --- a customer cancels a confirmed order ----------------------------------------------------


def test_order_cancel_of_a_confirmed_order_refunds_it_once(
    api_client, make_order, http, django_capture_on_commit_callbacks
):
    order = make_order(state=OrderState.CONFIRMED)
    http.add("POST", refund_url(order.number), json=refund_body(order.number, "tx-refund"))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.put(f"/order/cancel/{order.number}")

    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert len(callbacks) == 1
    [call] = http.calls
    assert call.request.method == "POST"
    assert call.request.url == refund_url(order.number)
    assert call.request.headers["Authorization"] == f"Bearer {settings.PAYMENTS_API_TOKEN}"
    assert not call.request.body  # an empty body
    refunded = fresh(order)
    assert refunded.refunded_at is not None
    assert refunded.refund_requested_at <= refunded.refunded_at
    assert refunded.refund_queued_at is None
    history = list(order.history.values_list("from_state", "to_state"))
    assert history[-2:] == [("created", "confirmed"), ("confirmed", "cancelled")]
    assert refund_events(order) == [refunded_event("tx-refund")]
    assert all_events(order) == [refunded_event("tx-refund")]


def test_order_cancel_queues_the_refund_only_after_commit(
    make_order, http, django_capture_on_commit_callbacks
):
    order = make_order(state=OrderState.CONFIRMED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cancelled = services.order_cancel(order_number=order.number)

    assert len(callbacks) == 1
    assert len(http.calls) == 0
    assert cancelled.state == OrderState.CANCELLED
    assert cancelled.refund_requested_at is not None
    assert cancelled.refund_queued_at is not None
    assert cancelled.refunded_at is None


def test_refund_payment_run_twice_calls_and_records_once(make_order, http):
    order = cancelled_with_refund_due(make_order)
    http.add("POST", refund_url(order.number), json=refund_body(order.number))

    refund_payment.delay(order.number)
    refund_payment.delay(order.number)

    assert len(http.calls) == 1  # the second run finds the refund settled
    assert len(refund_events(order)) == 1


def test_refund_payment_overlapping_runs_record_one_refund(make_order, http):
    """Two deliveries of the task at once: both find the refund due and call Payments (which
    answers both with the same refund); only one records it."""
    order = cancelled_with_refund_due(make_order)
    body = refund_body(order.number, "tx-same")
    runs = []

    def answer_after_the_other_run(request):
        runs.append(True)
        if len(runs) == 1:  # inside the first call, the second delivery runs to the end
            refund_payment.delay(order.number)
        return 200, {}, json.dumps(body)

    http.add_callback("POST", refund_url(order.number), callback=answer_after_the_other_run)

    refund_payment.delay(order.number)

    assert len(http.calls) == 2
    assert refund_events(order) == [refunded_event("tx-same")]
    assert fresh(order).refunded_at is not None


# --- a confirmation that arrives after the customer cancelled -------------------------------


def test_late_confirmation_after_cancel_refunds_the_charge(
    make_order, http, django_capture_on_commit_callbacks
):
    order = make_order()
    services.order_cancel(order_number=order.number)
    http.add("POST", refund_url(order.number), json=refund_body(order.number, "tx-r"))

    with django_capture_on_commit_callbacks(execute=True):
        services.order_apply_payment_result(
            order_number=order.number, payment_status="confirmed", transaction_id="tx-late"
        )

    assert len(http.calls) == 1
    assert fresh(order).state == OrderState.CANCELLED
    assert fresh(order).refunded_at is not None
    assert all_events(order) == [late("confirmed", "tx-late"), refunded_event("tx-r")]
    history = list(order.history.values_list("from_state", "to_state", "reason"))
    assert history == [
        (None, "created", "order created"),
        ("created", "cancelled", "cancelled by customer"),
    ]
    assert_legal_history(order)


def test_late_confirmation_delivered_twice_queues_one_refund(
    make_order, django_capture_on_commit_callbacks
):
    order = make_order()
    services.order_cancel(order_number=order.number)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for _ in range(2):
            services.order_apply_payment_result(
                order_number=order.number, payment_status="confirmed", transaction_id="tx-late"
            )

    assert len(callbacks) == 1
    assert all_events(order) == [late("confirmed", "tx-late")]


def test_late_decline_after_cancel_queues_no_refund(make_order, django_capture_on_commit_callbacks):
    order = make_order()
    services.order_cancel(order_number=order.number)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.order_apply_payment_result(
            order_number=order.number, payment_status="declined", transaction_id="tx-late"
        )

    assert callbacks == []
    assert all_events(order) == [late("declined", "tx-late")]
    assert fresh(order).refund_queued_at is not None  # only the postponed check stays due


def test_charge_confirmed_while_the_customer_cancels_is_refunded(
    make_order, http, batch_url, django_capture_on_commit_callbacks
):
    order = make_order()

    def cancel_while_in_flight(request):
        services.order_cancel(order_number=order.number)
        return batch_echo()(request)

    http.add_callback("POST", batch_url, callback=cancel_while_in_flight)
    http.add("POST", refund_url(order.number), json=refund_body(order.number, "tx-back"))

    with django_capture_on_commit_callbacks(execute=True):
        charge()

    assert [call.request.url for call in http.calls] == [batch_url, refund_url(order.number)]
    assert fresh(order).refunded_at is not None
    [late_result] = order.events.filter(kind=OrderEventKind.PAYMENT_AFTER_CANCELLATION)
    assert late_result.transaction_id  # the charge's, as Payments answered it
    assert refund_events(order) == [refunded_event("tx-back")]


# --- a cancel from `created`: a charge Orders never heard of ---------------------------------


def test_order_cancel_of_a_created_order_defers_a_refund_check(
    make_order, http, django_capture_on_commit_callbacks
):
    order = make_order()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.order_cancel(order_number=order.number)

    assert callbacks == []  # nothing sent now: a payment call may still be on its way
    assert fresh(order).refund_queued_at is not None
    assert redrive(django_capture_on_commit_callbacks) == 0
    assert len(http.calls) == 0


def test_payment_that_timed_out_before_a_cancel_is_found_and_refunded(
    make_order, http, batch_url, django_capture_on_commit_callbacks
):
    """Payments charged, but its answer never came back; the customer cancelled before the
    retry, which then stops asking. The postponed check finds the charge and refunds it."""
    order = make_order()

    def charge_then_time_out_while_the_customer_cancels(request):
        services.order_cancel(order_number=order.number)
        raise requests.exceptions.ReadTimeout("the answer was lost")

    http.add_callback("POST", batch_url, callback=charge_then_time_out_while_the_customer_cancels)
    http.add("POST", refund_url(order.number), json=refund_body(order.number, "tx-found"))
    charge()
    assert len(http.calls) == 1  # the retry saw `cancelled` and made no call

    age_refund(order, STUCK + timedelta(seconds=1))
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert http.calls[-1].request.url == refund_url(order.number)
    assert refund_events(order) == [refunded_event("tx-found")]
    assert fresh(order).refunded_at is not None


@pytest.mark.parametrize(
    ("status", "code", "why"),
    [
        (404, "payment_not_found", "no payment was taken"),
        (409, "payment_not_refundable", "the payment was declined or charged nothing"),
    ],
)
def test_refund_payment_nothing_charged_is_recorded_and_not_retried(
    make_order, http, django_capture_on_commit_callbacks, status, code, why
):
    order = make_order()
    services.order_cancel(order_number=order.number)
    http.add("POST", refund_url(order.number), status=status, json={"code": code, "message": "no"})
    age_refund(order, STUCK + timedelta(seconds=1))

    assert redrive(django_capture_on_commit_callbacks) == 1

    assert len(http.calls) == 1
    settled = fresh(order)
    assert settled.refund_queued_at is None
    assert settled.refunded_at is None  # nothing was refunded: nothing had been charged
    assert refund_events(order) == [
        (OrderEventKind.REFUND_NOT_NEEDED, f"no refund needed: {why} ({code})", "")
    ]
    Order.objects.filter(pk=order.pk).update(refund_requested_at=timezone.now() - STUCK * 10)
    assert redrive(django_capture_on_commit_callbacks) == 0  # no longer due, however old
    assert orders_stuck_count()["awaiting_refund"] == 0
    assert len(http.calls) == 1


def test_late_confirmation_reopens_a_refund_that_found_nothing_charged(
    make_order, http, django_capture_on_commit_callbacks
):
    order = make_order()
    services.order_cancel(order_number=order.number)
    http.add("POST", refund_url(order.number), status=404, json={"code": "payment_not_found"})
    http.add("POST", refund_url(order.number), json=refund_body(order.number, "tx-2"))
    refund_payment.delay(order.number)
    assert fresh(order).refund_queued_at is None

    with django_capture_on_commit_callbacks(execute=True):
        services.order_apply_payment_result(
            order_number=order.number, payment_status="confirmed", transaction_id="tx-late"
        )

    assert len(http.calls) == 2
    assert fresh(order).refunded_at is not None
    not_needed = "no refund needed: no payment was taken (payment_not_found)"
    assert all_events(order) == [
        (OrderEventKind.REFUND_NOT_NEEDED, not_needed, ""),
        late("confirmed", "tx-late"),
        refunded_event("tx-2"),
    ]
    assert_legal_history(order)


def test_confirmation_arriving_during_a_nothing_charged_answer_is_still_refunded(
    make_order, http, django_capture_on_commit_callbacks
):
    """The check asks Payments before the charge exists (404); the confirmation arrives while
    that answer is on its way back. The 404 must not close the refund that the charge reopened."""
    order = make_order()
    services.order_cancel(order_number=order.number)
    answers = []

    def not_found_while_the_charge_lands(request):
        answers.append(True)
        if len(answers) == 1:
            services.order_apply_payment_result(
                order_number=order.number, payment_status="confirmed", transaction_id="tx-late"
            )
            return 404, {}, json.dumps({"code": "payment_not_found"})
        return 200, {}, json.dumps(refund_body(order.number, "tx-late"))

    http.add_callback("POST", refund_url(order.number), callback=not_found_while_the_charge_lands)

    with django_capture_on_commit_callbacks(execute=True):
        refund_payment.delay(order.number)

    assert len(http.calls) == 2
    assert fresh(order).refunded_at is not None
    assert refund_events(order) == [refunded_event("tx-late")]


# --- Payments does not answer, or refuses -------------------------------------------------


@pytest.mark.parametrize(
    "first_answer",
    [
        pytest.param({"body": requests.exceptions.ReadTimeout("slow")}, id="read-timeout"),
        pytest.param({"body": requests.exceptions.ConnectionError("refused")}, id="refused"),
        pytest.param({"status": 500, "json": {}}, id="500"),
        pytest.param({"status": 503, "body": "<html>down</html>"}, id="503-html"),
        pytest.param({"status": 429, "json": {}}, id="429"),
        pytest.param({"status": 200, "body": "not json"}, id="200-not-json"),
        pytest.param({"status": 200, "json": {"status": "pending"}}, id="200-not-refunded"),
    ],
)
def test_refund_payment_retries_until_payments_answers(make_order, http, first_answer):
    order = cancelled_with_refund_due(make_order)
    http.add("POST", refund_url(order.number), **first_answer)
    http.add("POST", refund_url(order.number), json=refund_body(order.number))

    refund_payment.delay(order.number)

    assert len(http.calls) == 2
    assert fresh(order).refunded_at is not None
    assert len(refund_events(order)) == 1


def test_refund_payment_exhausted_retries_is_redriven_later(
    make_order, http, django_capture_on_commit_callbacks
):
    order = cancelled_with_refund_due(make_order)
    for _ in range(MAX_CALLS):
        http.add("POST", refund_url(order.number), status=503)
    http.add("POST", refund_url(order.number), json=refund_body(order.number))

    result = refund_payment.delay(order.number)

    assert result.failed()
    assert isinstance(result.result, PaymentsUnavailable)
    assert len(http.calls) == MAX_CALLS
    assert fresh(order).refund_queued_at is not None  # still due
    assert redrive(django_capture_on_commit_callbacks) == 0  # too recent to be called stuck

    age_refund(order, STUCK + timedelta(seconds=1))
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert len(http.calls) == MAX_CALLS + 1
    assert fresh(order).refunded_at is not None
    assert len(refund_events(order)) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(404, {"code": "not_found"}, id="404-no-such-route"),
        pytest.param(409, {"code": "payment_conflict"}, id="409-other-code"),
        pytest.param(401, {"code": "not_authenticated"}, id="401"),
        pytest.param(400, None, id="400-no-json"),
    ],
)
def test_refund_payment_other_refusals_stay_due_without_retry(
    make_order, http, django_capture_on_commit_callbacks, status, body
):
    order = cancelled_with_refund_due(make_order)
    http.add("POST", refund_url(order.number), status=status, json=body)

    result = refund_payment.delay(order.number)

    assert len(http.calls) == 1
    assert isinstance(result.result, PaymentRefused)
    assert fresh(order).refund_queued_at is not None  # an operator fixes it; re-drive tries again
    assert refund_events(order) == []
    age_refund(order, STUCK + timedelta(seconds=1))
    assert redrive(django_capture_on_commit_callbacks) == 1
    assert len(http.calls) == 2


@pytest.mark.parametrize("state", [OrderState.CREATED, OrderState.CONFIRMED, OrderState.DELIVERED])
def test_refund_payment_without_a_refund_due_makes_no_call(make_order, http, state):
    order = make_order(state=state)

    refund_payment.delay(order.number)
    refund_payment.delay("zzzzzzzz")

    assert len(http.calls) == 0


def test_orders_redrive_stuck_refunds_takes_the_longest_waiting_first(make_order, settings):
    settings.ORDERS_SWEEP_BATCH_SIZE = 2
    orders = [cancelled_with_refund_due(make_order) for _ in range(5)]
    for index, order in enumerate(orders):
        age_refund(order, STUCK + timedelta(seconds=100 - index))

    picked = [sweeps.orders_redrive_stuck_refunds() for _ in range(4)]

    numbers = [order.number for order in orders]
    assert picked == [numbers[0:2], numbers[2:4], numbers[4:5], []]  # each clock restarted


def test_refund_payment_reads_url_and_token_from_settings(make_order, http, other_payments):
    order = cancelled_with_refund_due(make_order)
    url = f"http://payments.test:9000/payment/{order.number}/refund"
    http.add("POST", url, json=refund_body(order.number))

    refund_payment.delay(order.number)

    assert http.calls[0].request.url == url
    assert http.calls[0].request.headers["Authorization"] == "Bearer another-token"


def test_order_refund_is_only_for_cancelled_orders_in_the_database(make_order):
    order = make_order(state=OrderState.CONFIRMED)

    with pytest.raises(IntegrityError):
        Order.objects.filter(pk=order.pk).update(refund_requested_at=timezone.now())


# --- GET /health/ready: the orders stuck waiting for Payments --------------------------------


def test_orders_stuck_count_counts_payments_and_refunds_past_the_deadline(make_order):
    long_ago = timezone.now() - STUCK - timedelta(seconds=1)
    stuck_payment, _fresh = make_order(), make_order()
    Order.objects.filter(pk=stuck_payment.pk).update(state_changed_at=long_ago)
    stuck_refund = cancelled_with_refund_due(make_order)
    recent_refund = cancelled_with_refund_due(make_order)
    done_refund = cancelled_with_refund_due(make_order)
    Order.objects.filter(pk__in=[stuck_refund.pk, done_refund.pk]).update(
        refund_requested_at=long_ago
    )
    Order.objects.filter(pk=done_refund.pk).update(refund_queued_at=None, refunded_at=long_ago)
    # A delivered order that old is not stuck.
    Order.objects.filter(pk=make_order(state=OrderState.DELIVERED).pk).update(
        state_changed_at=long_ago
    )

    assert orders_stuck_count() == {"awaiting_payment": 1, "awaiting_refund": 1}
    assert recent_refund.refund_queued_at is not None


def test_orders_stuck_count_keeps_counting_a_payment_re_driven_in_vain(make_order):
    order = make_order()
    Order.objects.filter(pk=order.pk).update(
        state_changed_at=timezone.now() - STUCK * 5, payment_requested_at=timezone.now()
    )

    assert orders_stuck_count()["awaiting_payment"] == 1


def test_health_ready_reports_stuck_orders_and_stays_ready(client, make_order):
    long_ago = timezone.now() - STUCK * 2
    for order in [make_order(), make_order()]:
        Order.objects.filter(pk=order.pk).update(state_changed_at=long_ago)
    refund = cancelled_with_refund_due(make_order)
    Order.objects.filter(pk=refund.pk).update(refund_requested_at=long_ago)

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["stuck"] == {"awaitingPayment": 2, "awaitingRefund": 1}


@pytest.mark.parametrize(
    ("selector", "detail", "other"),
    [
        ("orders_stuck_count", "stuck", "reconciliation"),
        ("reconciliation_summary", "reconciliation", "stuck"),
    ],
)
def test_health_ready_stays_ready_when_reading_a_detail_fails(
    client, monkeypatch, selector, detail, other
):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(f"orders.selectors.{selector}", broken)

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()[detail] is None
    assert response.json()[other] is not None  # one detail failing leaves the others
