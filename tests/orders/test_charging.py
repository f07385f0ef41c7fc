"""The charger (orders/charging.py and its tasks) against Payments' batch endpoint, mocked at
the HTTP boundary with `responses`."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
import requests
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from helpers import (
    MAX_CALLS,
    assert_retries_payments_unavailable,
    batch_echo,
    batch_item,
    charge,
    redrive,
    sent_numbers,
)

from orders import charging, db, services, sweeps, wake_up
from orders.exceptions import PaymentsUnavailable
from orders.models import Order, OrderEventKind, OrderState
from orders.task_handles import TaskHandle
from orders.tasks import DATABASE_MAX_RETRIES, charge_orders, redrive_stuck_payments

pytestmark = pytest.mark.django_db


def state_of(order) -> str:
    return Order.objects.get(pk=order.pk).state


def answer(*items) -> dict:
    return {"json": {"results": list(items)}, "status": 200}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("confirmed", OrderState.CONFIRMED),
        ("declined", OrderState.CANCELLED),
        # A replay for an order cancelled and refunded since: nothing charged, nothing to refund.
        ("refunded", OrderState.CANCELLED),
    ],
)
def test_charge_applies_each_decision(make_order, http, batch_url, status, state):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_echo(status))

    assert charge() == 1

    assert state_of(order) == state
    last = order.history.order_by("-id").first()
    assert (last.from_state, last.to_state) == (OrderState.CREATED, state)
    assert last.reason.startswith(f"payment {status} (")
    assert Order.objects.get(pk=order.pk).refund_requested_at is None


def test_charge_sends_every_waiting_order_in_one_call(make_order, http, batch_url):
    orders = [make_order(price=Decimal(f"{n}.5")) for n in range(1, 6)]
    http.add_callback("POST", batch_url, callback=batch_echo())

    assert charge() == 5

    assert len(http.calls) == 1
    sent = json.loads(http.calls[0].request.body)["payments"]
    assert sent == [
        {
            "orderNumber": o.number,
            "name": "Ada",
            "address": "1 Loop Road",
            "price": f"{o.price}0",
            "paymentMethod": "card",
        }
        for o in orders
    ]
    assert {state_of(o) for o in orders} == {OrderState.CONFIRMED}
    for order in orders:
        assert order.history.count() == 2


def test_charge_splits_a_backlog_into_batches_oldest_first(make_order, http, batch_url, settings):
    settings.ORDERS_PAYMENT_BATCH_SIZE = 2
    orders = [make_order() for _ in range(5)]
    http.add_callback("POST", batch_url, callback=batch_echo())

    assert charge() == 5

    assert [sent_numbers(call) for call in http.calls] == [
        [orders[0].number, orders[1].number],
        [orders[2].number, orders[3].number],
        [orders[4].number],
    ]


def test_charge_sends_the_service_token(make_order, http, batch_url):
    make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()

    sent = http.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {settings.PAYMENTS_API_TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"


def test_charge_reads_url_and_token_from_settings(make_order, http, other_payments):
    order = make_order()
    http.add_callback("POST", f"{other_payments}/batch", callback=batch_echo())

    charge()

    assert http.calls[0].request.url == f"{other_payments}/batch"
    assert http.calls[0].request.headers["Authorization"] == "Bearer another-token"
    assert state_of(order) == OrderState.CONFIRMED


def test_charge_with_nothing_waiting_makes_no_call(make_order, http):
    make_order(state=OrderState.CONFIRMED)
    make_order(state=OrderState.CANCELLED)

    assert charge() == 0
    assert len(http.calls) == 0


def test_charge_passes_the_configured_timeout(make_order, http, batch_url, settings):
    settings.PAYMENTS_CONNECT_TIMEOUT_SECONDS = 1.5
    settings.PAYMENTS_READ_TIMEOUT_SECONDS = 7.0
    make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()

    # What the session was called with (responses records the keyword arguments).
    assert http.calls[0].request.req_kwargs["timeout"] == (1.5, 7.0)


def test_charge_applies_results_and_refusals_of_one_batch_apart(make_order, http, batch_url):
    confirmed, refused, declined = make_order(), make_order(), make_order()
    refusal = {"code": "payment_conflict", "message": "no", "errors": {}}
    http.add(
        "POST",
        batch_url,
        **answer(
            batch_item(confirmed.number),
            {"orderNumber": refused.number, "error": refusal},
            batch_item(declined.number, "declined"),
        ),
    )

    assert charge() == 2

    assert state_of(confirmed) == OrderState.CONFIRMED
    assert state_of(declined) == OrderState.CANCELLED
    # Refused: still claimed, so the next wake-up does not send it again before its claim ends.
    assert state_of(refused) == OrderState.CREATED
    assert charge() == 0
    assert len(http.calls) == 1


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
        pytest.param({"status": 200, "body": "not json"}, id="200-not-json"),
        pytest.param({"status": 200, "json": {"results": []}}, id="200-too-few-results"),
        pytest.param({"status": 200, "json": {"results": {}}}, id="200-results-not-a-list"),
        pytest.param(
            {"status": 200, "json": {"results": [batch_item("someone1")]}}, id="200-other-order"
        ),
    ],
)
def test_charge_retries_the_batch_until_payments_answers(make_order, http, batch_url, first_answer):
    order = make_order()
    http.add("POST", batch_url, **first_answer)
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()

    assert len(http.calls) == 2
    assert json.loads(http.calls[0].request.body) == json.loads(http.calls[1].request.body)
    assert state_of(order) == OrderState.CONFIRMED
    assert order.history.count() == 2


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"transactionId": None}, id="no-transaction-id"),
        pytest.param({"transactionId": ""}, id="empty-transaction-id"),
        pytest.param({"transactionId": "x" * 65}, id="long-transaction-id"),
        pytest.param({"status": "pending"}, id="unknown-status"),
    ],
)
def test_charge_retries_an_unreadable_result(make_order, http, batch_url, item):
    order = make_order()
    http.add("POST", batch_url, **answer(batch_item(order.number, **item)))
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()

    assert len(http.calls) == 2
    assert state_of(order) == OrderState.CONFIRMED


def test_charge_hands_a_failed_batch_over_with_a_jittered_countdown(
    make_order, http, batch_url, monkeypatch
):
    """The first hand-over to the retrying task waits up to a second (full jitter), as Celery's
    own backoff would before its first retry, and counts as retry 1."""
    order = make_order()
    http.add("POST", batch_url, status=503)
    handed = []
    monkeypatch.setattr(
        TaskHandle,
        "enqueue",
        lambda handle, *args, **options: handed.append((handle.name, args, options)),
    )

    for _ in range(20):
        expire_claim(order)
        charge()

    assert {name for name, _, _ in handed} == {"orders.charge_orders"}
    assert all(args == ([order.number],) for _, args, _ in handed)
    assert {options["retries"] for _, _, options in handed} == {1}
    countdowns = [options["countdown"] for _, _, options in handed]
    assert all(0 <= countdown <= 1 for countdown in countdowns)
    assert len(set(countdowns)) > 1  # jittered


def test_charge_orders_retries_with_exponential_backoff_and_jitter():
    assert_retries_payments_unavailable(charge_orders)


def test_charge_gives_up_after_max_retries_and_leaves_the_orders_claimed(
    make_order, http, batch_url
):
    order = make_order()
    http.add("POST", batch_url, body=requests.exceptions.ConnectTimeout("down"))

    charge()

    assert len(http.calls) == MAX_CALLS
    assert state_of(order) == OrderState.CREATED
    assert order.history.count() == 1
    claimed_until = Order.objects.get(pk=order.pk).payment_requested_at
    assert claimed_until > timezone.now() + timedelta(
        seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS - 5
    )


def test_charge_again_raises_for_the_task_to_retry(make_order, http, batch_url):
    order = make_order()
    http.add("POST", batch_url, status=503)

    result = charge_orders.apply(args=[[order.number]], retries=settings.ORDERS_PAYMENT_MAX_RETRIES)

    assert result.failed()
    assert isinstance(result.result, PaymentsUnavailable)


@pytest.mark.parametrize("state", [OrderState.CANCELLED, OrderState.CONFIRMED])
def test_charge_again_skips_orders_past_created(make_order, http, state):
    order = make_order(state=state)

    assert charge_orders.delay([order.number, "zzzzzzzz"]).get() == 0
    assert len(http.calls) == 0


def expire_claim(order, seconds: float = 1) -> None:
    past = timezone.now() - timedelta(seconds=seconds)
    Order.objects.filter(pk=order.pk).update(payment_requested_at=past)


def test_redrive_wakes_the_charger_for_an_order_whose_claim_expired(
    make_order, http, batch_url, django_capture_on_commit_callbacks
):
    order = make_order()
    for _ in range(MAX_CALLS):
        http.add("POST", batch_url, status=503)
    http.add_callback("POST", batch_url, callback=batch_echo())
    charge()
    assert len(http.calls) == MAX_CALLS
    assert state_of(order) == OrderState.CREATED

    assert redrive(django_capture_on_commit_callbacks) == 0  # still claimed
    assert len(http.calls) == MAX_CALLS

    expire_claim(order, seconds=5)
    # The failed charger left the wake-up guard to expire (ORDERS_CHARGE_WAKE_UP_GUARD_MS); the
    # re-drive runs every ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS, long after that.
    wake_up.release_wake_up()
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert len(http.calls) == MAX_CALLS + 1
    assert state_of(order) == OrderState.CONFIRMED
    history = list(order.history.values_list("from_state", "to_state"))
    assert history == [(None, "created"), ("created", "confirmed")]


def test_redrive_leaves_a_new_order_to_its_own_wake_up(make_order, http):
    make_order()  # created now: its own wake-up is on its way

    assert sweeps.orders_redrive_stuck_payments() == 0
    assert len(http.calls) == 0


def test_charge_takes_the_longest_waiting_first(make_order, http, batch_url, settings):
    settings.ORDERS_PAYMENT_BATCH_SIZE = 2
    orders = [make_order() for _ in range(3)]
    expire_claim(orders[2], seconds=100)
    expire_claim(orders[0], seconds=50)
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()

    # The two longest waiting, sent in the order they were created.
    assert sent_numbers(http.calls[0]) == [orders[0].number, orders[2].number]


@pytest.mark.parametrize("state", [OrderState.CONFIRMED, OrderState.CANCELLED])
def test_redrive_leaves_orders_that_are_no_longer_created(make_order, http, state):
    order = make_order(state=state)
    expire_claim(order, 86400)

    assert redrive_stuck_payments.delay().get() == 0
    assert len(http.calls) == 0


def test_charge_twice_moves_the_order_once(make_order, http, batch_url):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())

    charge()
    charge_orders.delay([order.number])

    assert state_of(order) == OrderState.CONFIRMED
    assert order.history.count() == 2
    assert len(http.calls) == 1  # the second sees `confirmed` and makes no call


def test_the_same_result_applied_twice_changes_nothing(make_order):
    order = make_order()
    for _ in range(2):
        services.order_apply_payment_result(
            order_number=order.number, payment_status="declined", transaction_id="t-1"
        )

    assert state_of(order) == OrderState.CANCELLED
    assert order.history.count() == 2
    assert order.events.count() == 0


def test_a_result_after_cancel_is_an_event_not_a_change_of_state(make_order, http, batch_url):
    order = make_order()

    def cancel_while_in_flight(request):
        # The customer cancels while Payments is still charging the order.
        services.order_cancel(order_number=order.number)
        return batch_echo()(request)

    http.add_callback("POST", batch_url, callback=cancel_while_in_flight)

    charge()

    assert state_of(order) == OrderState.CANCELLED
    rows = list(order.history.values_list("from_state", "to_state"))
    assert rows == [(None, "created"), ("created", "cancelled")]
    event = order.events.get()
    assert event.kind == OrderEventKind.PAYMENT_AFTER_CANCELLATION
    assert event.detail == "payment confirmed after cancellation"
    assert event.transaction_id
    assert event.actor == "payments"


def test_charge_takes_orders_that_come_in_during_its_run_without_another_charger(
    make_order, http, batch_url, monkeypatch
):
    first = make_order()
    later = []

    def order_arrives_while_in_flight(request):
        if not later:
            later.append(services.order_create(name="Bo", address="2 Loop Road", price=1))
            wake_up.wake_charger()  # what the new order's on-commit does
        return batch_echo()(request)

    http.add_callback("POST", batch_url, callback=order_arrives_while_in_flight)
    queued = []
    monkeypatch.setattr(
        TaskHandle, "enqueue", lambda handle, *args, **options: queued.append(handle.name)
    )

    assert charge() == 2

    assert queued == []  # the running charger held the wake-up: nobody else was woken
    assert [sent_numbers(call) for call in http.calls] == [[first.number], [later[0].number]]


def test_charge_hands_over_to_a_fresh_wake_up_after_its_run_time(
    make_order, http, batch_url, monkeypatch, settings
):
    make_order()
    make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())
    monkeypatch.setattr(charging, "CHARGER_RUN_SECONDS", 0)
    settings.ORDERS_PAYMENT_BATCH_SIZE = 1
    queued = []
    monkeypatch.setattr(
        TaskHandle, "enqueue", lambda handle, *args, **options: queued.append(handle.name)
    )

    assert charge() == 1  # one round, then the run time is up

    assert queued == ["orders.charge_waiting_orders"]


def unavailable(number: str) -> dict:
    error = {"code": "payment_unavailable", "message": "retry later", "errors": {}}
    return {"orderNumber": number, "error": error}


def retries_counted() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("orders_payments_retries_total", {"operation": "payment"}) or 0


def test_charge_retries_only_the_orders_payments_could_not_decide(make_order, http, batch_url):
    later, now = make_order(), make_order()
    http.add("POST", batch_url, **answer(unavailable(later.number), batch_item(now.number)))
    http.add("POST", batch_url, **answer(unavailable(later.number)))
    http.add("POST", batch_url, **answer(batch_item(later.number)))
    before = retries_counted()

    assert charge() == 1  # the charger's own decisions; the retrying task decides the other

    assert state_of(now) == state_of(later) == OrderState.CONFIRMED
    # The retries sent the unavailable order alone, and show in the retry metric.
    assert [sent_numbers(call) for call in http.calls] == [
        [later.number, now.number],
        [later.number],
        [later.number],
    ]
    assert retries_counted() - before == 2
    assert json.loads(http.calls[0].request.body)["payments"][0]["paymentMethod"] == "card"


def test_charge_sends_each_orders_payment_method(make_order, http, batch_url):
    order = make_order()
    Order.objects.filter(pk=order.pk).update(payment_method="cash_on_delivery")
    http.add_callback("POST", batch_url, callback=batch_echo())

    assert charge() == 1

    (sent,) = json.loads(http.calls[0].request.body)["payments"]
    assert sent["paymentMethod"] == "cash_on_delivery"


def failing(function, times: int, calls: list | None = None):
    """`function`, whose first `times` calls raise what Django raises when the database is gone;
    each call is appended to `calls`."""
    calls = [] if calls is None else calls

    def gone_at_first(*args, **kwargs):
        calls.append(args or kwargs)
        if len(calls) <= times:
            raise OperationalError("connection refused: the database is restarting")
        return function(*args, **kwargs)

    return gone_at_first


def test_charge_retries_soon_while_the_database_is_gone(make_order, http, batch_url, monkeypatch):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())
    monkeypatch.setattr(db, "orders_claim", failing(db.orders_claim, times=3))

    charge()  # eager: the task's retries run at once, their countdowns aside

    assert state_of(order) == OrderState.CONFIRMED


def test_charge_gives_up_after_the_database_retries_and_releases_the_wake_up(
    make_order, http, monkeypatch, wake_up_guard
):
    make_order()
    calls = []
    monkeypatch.setattr(db, "orders_claim", failing(db.orders_claim, times=100, calls=calls))
    guard = redis.Redis.from_url(settings.REDIS_URL)
    guard.set(wake_up_guard, 1)  # as the wake-up that started this charger left it

    with pytest.raises(OperationalError):
        charge()

    assert len(calls) == DATABASE_MAX_RETRIES + 1
    # The next order wakes a charger at once, not when the guard expires.
    assert not guard.exists(wake_up_guard)


def test_charge_hands_a_batch_whose_results_were_not_applied_to_the_retrying_task(
    make_order, http, batch_url, monkeypatch
):
    """Charged at Payments, but the database went away before the results were applied: the
    retrying task claims the batch again by its numbers (not when its claim expires), and
    Payments answers the second call with what it stored."""
    orders = [make_order() for _ in range(3)]
    http.add_callback("POST", batch_url, callback=batch_echo())
    applied = []
    apply = failing(services.orders_apply_payment_results, times=1, calls=applied)
    monkeypatch.setattr(services, "orders_apply_payment_results", apply)

    charge()

    assert [state_of(order) for order in orders] == [OrderState.CONFIRMED] * 3
    assert [sorted(sent_numbers(call)) for call in http.calls] == [
        sorted(order.number for order in orders)
    ] * 2
    assert all(order.history.count() == 2 for order in orders)


def test_charge_orders_retries_soon_while_the_database_is_gone(
    make_order, http, batch_url, monkeypatch
):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())
    monkeypatch.setattr(db, "orders_claim", failing(db.orders_claim, times=2))

    assert charge_orders.apply(args=[[order.number]], retries=1).get() == 1

    assert state_of(order) == OrderState.CONFIRMED


def test_charge_orders_gives_up_after_the_database_retries(make_order, http, monkeypatch):
    order = make_order()
    calls = []
    monkeypatch.setattr(db, "orders_claim", failing(db.orders_claim, times=100, calls=calls))

    result = charge_orders.apply(args=[[order.number]], retries=1)

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert len(calls) == DATABASE_MAX_RETRIES  # from retry 1: the charger's call was the first


def test_a_database_retry_leaves_the_bound_of_payments_retries_as_it_was(
    make_order, http, batch_url, monkeypatch
):
    first, second = make_order(), make_order()
    http.add_callback("POST", batch_url, callback=batch_echo())
    monkeypatch.setattr(db, "orders_claim", failing(db.orders_claim, times=1))
    charge_orders.apply(args=[[first.number]], retries=1).get()
    http.reset()
    http.add("POST", batch_url, status=503)

    charge_orders.apply(args=[[second.number]], retries=1)

    assert len(http.calls) == MAX_CALLS - 1  # from retry 1: the charger's call was the first
