"""Reconciliation (orders/reconciliation.py, task orders.reconcile_payments) against Payments'
GET /payment/?updatedSince=, mocked at the HTTP boundary with `responses`."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from helpers import MAX_CALLS, assert_retries_payments_unavailable, payment_body

from orders import reconciliation, services, transitions
from orders.clients import PaymentSnapshot, payments_client, rfc_3339
from orders.exceptions import PaymentsUnavailable
from orders.models import (
    Order,
    OrderEvent,
    OrderEventKind,
    OrderState,
    ReconciliationCheckpoint,
    UnknownOrderPayment,
)
from orders.tasks import reconcile_payments

pytestmark = pytest.mark.django_db

MISMATCHES = "orders_reconciliation_mismatches_total"


@pytest.fixture
def list_url() -> str:
    return f"{settings.PAYMENTS_URL}/payment/"


def long_ago(seconds: int = 60) -> datetime:
    """A change old enough to be settled (ORDERS_RECONCILIATION_SETTLE_SECONDS ago and more)."""
    return timezone.now() - timedelta(
        seconds=settings.ORDERS_RECONCILIATION_SETTLE_SECONDS + seconds
    )


def payment(order, status="confirmed", *, price=None, updated_at=None, method=None) -> dict:
    """One payment as Payments lists it."""
    number = order if isinstance(order, str) else order.number
    when = updated_at or long_ago()
    return {
        **payment_body(number, status),
        "price": str(price if price is not None else getattr(order, "price", "12.50")),
        "paymentMethod": method or getattr(order, "payment_method", "card"),
        "createdAt": rfc_3339(when),
        "updatedAt": rfc_3339(when),
        "refundedAt": rfc_3339(when) if status == "refunded" else None,
    }


def serve(http, list_url, *pages: list[dict]):
    """Answer GET /payment/ with these pages in turn, linked by cursors as Payments links them
    (with its own host in `next`, which the client must not follow blindly)."""

    def callback(request):
        cursor = parse_qs(urlsplit(request.url).query).get("cursor", ["0"])[0]
        index = int(cursor)
        following = index + 1 < len(pages)
        body = {
            "next": f"http://payments.internal:1/payment/?cursor={index + 1}"
            if following
            else None,
            "previous": None,
            "results": pages[index] if pages else [],
        }
        return 200, {}, json.dumps(body)

    http.add_callback("GET", list_url, callback=callback)


def reconcile() -> int:
    return reconcile_payments.delay().get()


def state_of(order) -> str:
    return Order.objects.get(pk=order.pk).state


def events_of(order, kind) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(order=order, kind=kind))


# --- the client -------------------------------------------------------------------------------


def test_client_asks_with_the_token_a_timeout_and_an_rfc_3339_time(http, list_url, settings):
    settings.PAYMENTS_CONNECT_TIMEOUT_SECONDS = 1.5
    settings.PAYMENTS_READ_TIMEOUT_SECONDS = 7.0
    payments_client.cache_clear()
    serve(http, list_url, [])
    since = datetime(2026, 12, 3, 13, 0, 0, 5, tzinfo=UTC)

    page = payments_client().payments_changed_since(since=since)

    assert page.payments == [] and page.cursor is None
    sent = http.calls[0].request
    assert sent.req_kwargs["timeout"] == (1.5, 7.0)
    assert sent.headers["Authorization"] == f"Bearer {settings.PAYMENTS_API_TOKEN}"
    query = parse_qs(urlsplit(sent.url).query)
    assert query["updatedSince"] == ["2026-12-03T13:00:00.000005Z"]
    assert query["pageSize"] == ["500"]


def test_client_follows_the_cursor_on_its_own_base_url(http, list_url, make_order):
    order = make_order()
    serve(http, list_url, [payment(order)], [payment(order, "refunded")])
    client = payments_client()

    first = client.payments_changed_since(since=long_ago())
    second = client.payments_changed_since(since=long_ago(), cursor=first.cursor)

    assert first.cursor == "1" and second.cursor is None
    assert [p.status for p in first.payments + second.payments] == ["confirmed", "refunded"]
    assert all(call.request.url.startswith(list_url) for call in http.calls)
    assert isinstance(first.payments[0], PaymentSnapshot)
    assert first.payments[0].amount == Decimal("12.50")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"status": "pending"}, id="unknown-status"),
        pytest.param({"price": "twelve"}, id="unreadable-price"),
        pytest.param({"price": "NaN"}, id="not-a-number"),
        pytest.param({"updatedAt": "yesterday"}, id="unreadable-time"),
        pytest.param({"updatedAt": "2026-12-03T12:00:00"}, id="time-without-offset"),
        pytest.param({"transactionId": None}, id="no-transaction-id"),
        pytest.param({"orderNumber": 5}, id="number-not-a-string"),
    ],
)
def test_client_treats_an_unreadable_payment_as_no_answer(http, list_url, change):
    serve(http, list_url, [{**payment("abcd1234"), **change}])

    with pytest.raises(PaymentsUnavailable):
        payments_client().payments_changed_since(since=long_ago())


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"status": 503}, id="503"),
        pytest.param({"body": requests.exceptions.ReadTimeout("slow")}, id="timeout"),
        pytest.param({"json": {"results": "no"}}, id="not-a-list"),
    ],
)
def test_client_raises_payments_unavailable_without_a_usable_answer(http, list_url, answer):
    http.add("GET", list_url, **answer)

    with pytest.raises(PaymentsUnavailable):
        payments_client().payments_changed_since(since=long_ago())


def test_reconcile_task_retries_with_exponential_backoff_and_jitter():
    assert_retries_payments_unavailable(reconcile_payments)


def test_reconcile_task_asks_again_after_no_answer(http, list_url, make_order):
    order = make_order()
    http.add("GET", list_url, body=requests.exceptions.ConnectionError("down"))
    serve(http, list_url, [payment(order)])

    reconcile()

    assert len(http.calls) == 2
    assert state_of(order) == OrderState.CONFIRMED


def test_reconcile_task_gives_up_after_max_retries_and_keeps_its_checkpoint(http, list_url):
    http.add("GET", list_url, body=requests.exceptions.ConnectTimeout("down"))

    result = reconcile_payments.apply()

    assert isinstance(result.result, PaymentsUnavailable)
    assert len(http.calls) == MAX_CALLS
    checkpoint = ReconciliationCheckpoint.objects.get()
    assert checkpoint.checked_up_to is None and checkpoint.last_run_at is None


# --- what it compares -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("confirmed", OrderState.CONFIRMED),
        ("declined", OrderState.CANCELLED),
        # Refunded at Payments before Orders heard of the charge: nothing stays charged.
        ("refunded", OrderState.CANCELLED),
    ],
)
def test_reconcile_applies_a_decision_orders_never_got(
    http, list_url, make_order, scrape, status, state
):
    order = make_order()
    listed = payment(order, status)
    serve(http, list_url, [listed])
    before = scrape()

    assert reconcile() == 1

    assert state_of(order) == state
    last = order.history.order_by("-id").first()
    # The charger's own reason: a late answer to the charger then sees it applied already.
    assert (last.from_state, last.to_state) == (OrderState.CREATED, state)
    assert last.reason == f"payment {status} ({listed['transactionId']})"
    assert (
        scrape()(MISMATCHES, kind="decision_not_applied")
        == before(MISMATCHES, kind="decision_not_applied") + 1
    )
    assert not OrderEvent.objects.filter(order=order).exists()


def test_reconcile_then_the_charger_s_late_answer_changes_nothing(http, list_url, make_order):
    order = make_order()
    listed = payment(order)
    serve(http, list_url, [listed])
    reconcile()

    services.order_apply_payment_result(
        order_number=order.number,
        payment_status="confirmed",
        transaction_id=listed["transactionId"],
    )

    assert order.history.count() == 2
    assert not OrderEvent.objects.filter(order=order).exists()


@pytest.mark.parametrize("state", [OrderState.CONFIRMED, OrderState.DELIVERED])
def test_reconcile_reports_a_refund_at_payments_of_an_order_not_cancelled(
    http, list_url, make_order, scrape, caplog, state
):
    order = make_order(state)
    serve(http, list_url, [payment(order, "refunded")])
    before = scrape()

    assert reconcile() == 1

    assert state_of(order) == state  # reported for a person to decide, not repaired
    (event,) = events_of(order, OrderEventKind.REFUNDED_NOT_CANCELLED)
    assert event.actor == "reconciliation"
    assert state in event.detail
    assert (
        scrape()(MISMATCHES, kind="refunded_not_cancelled")
        == before(MISMATCHES, kind="refunded_not_cancelled") + 1
    )
    assert any(
        "refunded_not_cancelled" in r.getMessage() and r.levelname == "WARNING"
        for r in caplog.records
    )


def test_reconcile_reports_an_amount_that_differs(http, list_url, make_order, scrape):
    order = make_order(OrderState.CONFIRMED, price=Decimal("12.50"))
    serve(http, list_url, [payment(order, price="12.05")])
    before = scrape()

    reconcile()

    (event,) = events_of(order, OrderEventKind.AMOUNT_DIFFERS)
    assert "12.05" in event.detail and "12.50" in event.detail
    assert (
        scrape()(MISMATCHES, kind="amount_differs") == before(MISMATCHES, kind="amount_differs") + 1
    )


def test_reconcile_applies_no_decision_about_another_amount(http, list_url, make_order):
    """Paid at Payments with another price (not by Orders): the order's own charge is refused
    there (payment_conflict), so it waits, reported, instead of taking that decision."""
    order = make_order(price=Decimal("12.50"))
    serve(http, list_url, [payment(order, price="13.50")])

    assert reconcile() == 1

    assert state_of(order) == OrderState.CREATED
    assert len(events_of(order, OrderEventKind.AMOUNT_DIFFERS)) == 1


def test_reconcile_reports_a_decline_of_a_confirmed_order(http, list_url, make_order):
    order = make_order(OrderState.CONFIRMED)
    serve(http, list_url, [payment(order, "declined")])

    reconcile()

    assert len(events_of(order, OrderEventKind.STATUS_DIFFERS)) == 1
    assert state_of(order) == OrderState.CONFIRMED


def test_reconcile_reports_a_payment_for_an_order_orders_never_had(http, list_url, scrape):
    serve(http, list_url, [payment("zz999999", price="3.00")])
    before = scrape()

    reconcile()

    unknown = UnknownOrderPayment.objects.get()
    assert (unknown.order_number, unknown.status, unknown.amount) == (
        "zz999999",
        "confirmed",
        Decimal("3.00"),
    )
    assert (
        scrape()(MISMATCHES, kind="unknown_order") == before(MISMATCHES, kind="unknown_order") + 1
    )


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (OrderState.CONFIRMED, "confirmed"),
        (OrderState.DELIVERED, "confirmed"),
        (OrderState.CANCELLED, "declined"),
        (OrderState.CANCELLED, "refunded"),
    ],
)
def test_reconcile_reports_nothing_when_both_agree(http, list_url, make_order, state, status):
    order = make_order(state)
    serve(http, list_url, [payment(order, status)])

    assert reconcile() == 0

    assert not OrderEvent.objects.filter(order=order).exclude(kind=OrderEventKind.REFUNDED).exists()
    assert not UnknownOrderPayment.objects.exists()


def test_reconcile_leaves_a_refund_that_is_on_its_way(
    http, list_url, make_order, django_capture_on_commit_callbacks
):
    """Cancelled after the charge: the refund is queued (and not yet made); Payments still shows
    the charge confirmed. Not a mismatch: the refund task settles it."""
    order = make_order(OrderState.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=False):
        services.order_cancel(order_number=order.number)
    serve(http, list_url, [payment(order, "confirmed")])

    assert reconcile() == 0


def test_reconcile_accepts_cash_on_delivery_that_stays_confirmed_when_cancelled(
    http, list_url, make_order, django_capture_on_commit_callbacks
):
    """Cash on delivery charges nothing up front: Payments refuses its refund
    (payment_not_refundable) and keeps it confirmed; Orders settled the refund as not needed."""
    order = make_order(OrderState.CONFIRMED, payment_method="cash_on_delivery")
    refund_url = f"{settings.PAYMENTS_URL}/payment/{order.number}/refund"
    refusal = {"code": "payment_not_refundable", "message": "nothing charged", "errors": {}}
    http.add("POST", refund_url, status=409, json=refusal)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order_number=order.number)
    assert Order.objects.get(pk=order.pk).refund_queued_at is None  # settled: nothing to refund
    serve(http, list_url, [payment(order, "confirmed", method="cash_on_delivery")])

    assert reconcile() == 0

    kinds = set(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == {OrderEventKind.REFUND_NOT_NEEDED}


def test_reconcile_reports_a_charge_standing_for_a_cancel_with_no_refund_asked(
    http, list_url, make_order
):
    order = make_order()
    transitions.order_transition(
        order_number=order.number, to_state=OrderState.CANCELLED, reason="test setup"
    )
    serve(http, list_url, [payment(order, "confirmed")])

    reconcile()

    assert len(events_of(order, OrderEventKind.STATUS_DIFFERS)) == 1


# --- runs, checkpoint, idempotency ------------------------------------------------------------


def test_reconcile_again_reports_nothing_new(http, list_url, make_order, scrape):
    refunded, differs, waiting = (
        make_order(OrderState.CONFIRMED),
        make_order(OrderState.DELIVERED, price=Decimal("1.00")),
        make_order(),
    )
    page = [
        payment(refunded, "refunded"),
        payment(differs, price="2.00"),
        payment(waiting),
        payment("qq000000"),
    ]
    serve(http, list_url, page)
    assert reconcile() == 4
    before = scrape()
    events = OrderEvent.objects.count()
    history = sum(o.history.count() for o in (refunded, differs, waiting))

    assert reconcile() == 0  # the same page again, as the overlap re-reads it

    assert OrderEvent.objects.count() == events
    assert sum(o.history.count() for o in (refunded, differs, waiting)) == history
    assert UnknownOrderPayment.objects.count() == 1
    for kind in (
        "decision_not_applied",
        "refunded_not_cancelled",
        "amount_differs",
        "unknown_order",
    ):
        assert scrape()(MISMATCHES, kind=kind) == before(MISMATCHES, kind=kind)


def test_reconcile_asks_from_a_little_before_its_checkpoint(http, list_url, make_order):
    order = make_order(OrderState.CONFIRMED)
    newest = long_ago(30)
    serve(
        http, list_url, [payment(order, updated_at=long_ago(90)), payment(order, updated_at=newest)]
    )

    reconcile()
    reconcile()

    checkpoint = ReconciliationCheckpoint.objects.get()
    assert checkpoint.checked_up_to == newest
    assert checkpoint.last_run_compared == 2
    asked = [parse_qs(urlsplit(call.request.url).query)["updatedSince"][0] for call in http.calls]
    assert asked == [rfc_3339(reconciliation.EPOCH), rfc_3339(newest - reconciliation.OVERLAP)]


def test_reconcile_checkpoint_never_moves_back(make_order):
    later = timezone.now()
    ReconciliationCheckpoint.objects.create(name="payments", checked_up_to=later)

    reconciliation._checkpoint_advance(later - timedelta(minutes=5))

    assert ReconciliationCheckpoint.objects.get().checked_up_to == later


def test_reconcile_leaves_a_fresh_decision_to_the_charger(http, list_url, make_order):
    """Decided moments ago: the charger's answer may be on its way. Not applied, and the
    checkpoint stays before it, so a later run compares it."""
    settled, fresh = make_order(), make_order()
    serve(http, list_url, [payment(settled), payment(fresh, updated_at=timezone.now())])

    reconcile()

    assert state_of(settled) == OrderState.CONFIRMED
    assert state_of(fresh) == OrderState.CREATED
    assert ReconciliationCheckpoint.objects.get().checked_up_to < long_ago(0)


def test_reconcile_reads_pages_until_its_share_of_the_interval_is_spent(
    http, list_url, make_order, settings
):
    settings.ORDERS_RECONCILIATION_SWEEP_SECONDS = 30  # 15 s a run
    orders = [make_order() for _ in range(3)]
    serve(
        http,
        list_url,
        *[[payment(order, updated_at=long_ago(60 - n))] for n, order in enumerate(orders)],
    )
    ticks = iter([0, 10, 20, 30])  # the start, then 10 s a page

    reconciliation.payments_reconcile(clock=lambda: next(ticks))

    assert len(http.calls) == 2
    assert [state_of(order) for order in orders] == [
        OrderState.CONFIRMED,
        OrderState.CONFIRMED,
        OrderState.CREATED,  # the next run's
    ]


def test_reconcile_catches_up_on_a_backlog_of_any_number_of_pages(http, list_url, make_order):
    """A bound in pages fell behind for good under a load above it; a quick run reads them all."""
    orders = [make_order() for _ in range(25)]
    serve(
        http,
        list_url,
        *[[payment(order, updated_at=long_ago(60 - n))] for n, order in enumerate(orders)],
    )

    reconcile()

    assert len(http.calls) == 25
    assert {state_of(order) for order in orders} == {OrderState.CONFIRMED}


def test_health_ready_shows_what_reconciliation_found(api_client, http, list_url, make_order):
    order = make_order(OrderState.CONFIRMED)
    serve(http, list_url, [payment(order, "refunded"), payment("yy111111")])
    reconcile()

    detail = api_client.get("/health/ready").json()["reconciliation"]

    assert detail["lastRunAt"] is not None and detail["checkedUpTo"] is not None
    assert detail["mismatches"] == {
        "refunded_not_cancelled": 1,
        "amount_differs": 0,
        "status_differs": 0,
        "unknown_order": 1,
    }


@pytest.mark.usefixtures("fast_password_hashing")
def test_admin_lists_unknown_order_payments_read_only(admin_client, http, list_url):
    serve(http, list_url, [payment("xx222222", price="4.00")])
    reconcile()
    unknown = UnknownOrderPayment.objects.get()

    listed = admin_client.get("/admin/orders/unknownorderpayment/")
    added = admin_client.get("/admin/orders/unknownorderpayment/add/")
    viewed = admin_client.get(f"/admin/orders/unknownorderpayment/{unknown.pk}/change/")

    assert listed.status_code == 200 and "xx222222" in listed.content.decode()
    assert added.status_code == 403
    assert viewed.status_code == 200 and 'name="order_number"' not in viewed.content.decode()
