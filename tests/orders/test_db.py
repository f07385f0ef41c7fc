"""orders/db.py: each hand-written statement (and, on SQLite, its twin) run on the database of
this run (SQLite by default, PostgreSQL with ORDERS_DATABASE_URL)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import payment_transitions
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import db, services
from orders.models import Order, OrderState, OrderStateChange, WebhookDelivery
from orders.webhooks import sender

pytestmark = pytest.mark.django_db


def new_order(number: str) -> Order:
    now = timezone.now()
    return Order(
        number=number,
        name="Ada",
        address="1 Loop Road",
        price=Decimal("12.50"),
        payment_method="card",
        state=OrderState.CREATED,
        state_changed_at=now,
        payment_requested_at=now,
        created_at=now,
        updated_at=now,
    )


def history(order: Order) -> list[tuple]:
    return list(
        OrderStateChange.objects.filter(order_id=order.pk)
        .order_by("id")
        .values_list("from_state", "to_state", "reason")
    )


def test_order_insert_with_history_writes_the_order_and_its_first_row():
    order = new_order("dbtest01")

    assert db.order_insert_with_history(order, reason="order created")

    stored = Order.objects.get(pk=order.pk)
    assert (stored.number, stored.price, stored.state) == ("dbtest01", Decimal("12.50"), "created")
    assert history(order) == [(None, "created", "order created")]


def test_order_insert_with_history_of_a_taken_number_writes_nothing():
    db.order_insert_with_history(new_order("dbtest02"), reason="order created")
    again = new_order("dbtest02")

    assert not db.order_insert_with_history(again, reason="order created")
    assert Order.objects.filter(number="dbtest02").count() == 1
    assert OrderStateChange.objects.count() == 1


def test_order_transition_from_the_state_the_order_is_in(make_order):
    order = make_order()
    now = timezone.now()

    changed = db.order_transition_from(
        order_number=order.number, from_state="created", to_state="confirmed", reason="p", now=now
    )

    assert (changed.pk, changed.state, changed.state_changed_at) == (order.pk, "confirmed", now)
    assert history(order)[-1] == ("created", "confirmed", "p")


def test_order_transition_from_another_state_changes_nothing(make_order):
    order = make_order(OrderState.CONFIRMED)
    rows = history(order)

    changed = db.order_transition_from(
        order_number=order.number,
        from_state="created",
        to_state="cancelled",
        reason="x",
        now=timezone.now(),
    )

    assert changed is None
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED
    assert history(order) == rows


def test_orders_transition_many_from_changes_only_the_orders_in_the_state(make_order):
    paid, declined, confirmed = make_order(), make_order(), make_order(OrderState.CONFIRMED)
    now = timezone.now()

    changed = db.orders_transition_many_from(
        from_state=OrderState.CREATED,
        transitions=payment_transitions(
            (paid, "confirmed"), (declined, "declined"), (confirmed, "declined")
        ),
        now=now,
    )

    assert changed == {paid.pk, declined.pk}
    states = dict(Order.objects.values_list("id", "state"))
    assert (states[paid.pk], states[declined.pk], states[confirmed.pk]) == (
        "confirmed",
        "cancelled",
        "confirmed",
    )
    assert history(declined)[-1] == ("created", "cancelled", "payment declined (tx-2)")
    assert history(confirmed)[-1][1] == "confirmed"
    assert Order.objects.get(pk=paid.pk).state_changed_at == now


def test_orders_claim_takes_the_due_orders_oldest_clock_first(make_order):
    now = timezone.now()
    old, older, later = make_order(), make_order(), make_order()
    make_order(OrderState.CONFIRMED)  # not waiting
    for order, ago in ((old, 10), (older, 20), (later, -60)):
        Order.objects.filter(pk=order.pk).update(payment_requested_at=now - timedelta(seconds=ago))
    until = now + timedelta(seconds=30)

    claimed = db.orders_claim(
        state=OrderState.CREATED, claimed_until=until, claimant="w1 run", limit=1, due_by=now
    )

    assert [order.number for order in claimed] == [older.number]
    assert (claimed[0].price, claimed[0].payment_method) == (Decimal("12.50"), "card")
    row = Order.objects.get(pk=older.pk)
    assert (row.payment_requested_at, row.payment_claimed_by) == (until, "w1 run")

    rest = db.orders_claim(
        state=OrderState.CREATED, claimed_until=until, claimant="w1 run", limit=10, due_by=now
    )
    assert [order.number for order in rest] == [old.number]  # `later` is not due yet


def test_orders_claim_by_numbers_takes_them_whatever_their_clock(make_order):
    now = timezone.now()
    waiting, claimed_already, confirmed = (
        make_order(),
        make_order(),
        make_order(OrderState.CONFIRMED),
    )
    Order.objects.filter(pk=claimed_already.pk).update(
        payment_requested_at=now + timedelta(minutes=5)
    )

    claimed = db.orders_claim(
        state=OrderState.CREATED,
        claimed_until=now + timedelta(seconds=30),
        claimant="",
        limit=3,
        numbers=[waiting.number, claimed_already.number, confirmed.number],
    )

    assert [order.pk for order in claimed] == sorted([waiting.pk, claimed_already.pk])


def test_orders_claim_needs_a_clock_or_numbers():
    with pytest.raises(ValueError, match="due_by"):
        db.orders_claim(
            state=OrderState.CREATED, claimed_until=timezone.now(), claimant="", limit=1
        )


def test_webhook_deliveries_claim_takes_what_is_due_and_reads_what_is_sent(subscribe, make_order):
    everything = subscribe()
    subscribe("order.cancelled_by_operator")  # an event, first of its order to that endpoint
    stopped = subscribe()
    make_order(OrderState.DELIVERED)  # three changes: only the first is due
    cancelled = make_order()
    services.order_cancel(order_number=cancelled.number, operator="alice")
    stopped.active = False
    stopped.save()
    later = make_order()
    WebhookDelivery.objects.filter(order=later).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    now = timezone.now()
    due = sorted(sender._due(now).values_list("id", flat=True))
    until = now + timedelta(minutes=5)

    claimed = db.webhook_deliveries_claim(
        due_by=now, claimed_until=until, claimant="w1 run", limit=100
    )

    assert [delivery.id for delivery in claimed] == due and len(due) == 3
    # What PostgreSQL's one statement reads is what the ORM reads (JSON, prices, clocks).
    assert claimed == db.webhook_deliveries_read(due)
    event = next(d for d in claimed if d.event_type == "order.cancelled_by_operator")
    assert (event.event_actor, event.event_data) == ("alice", {"fromState": "created"})
    assert (claimed[0].url, claimed[0].secret) == (everything.url, everything.secret)
    rows = WebhookDelivery.objects.filter(id__in=due)
    assert set(rows.values_list("next_attempt_at", "claimed_by")) == {(until, "w1 run")}
    again = db.webhook_deliveries_claim(due_by=now, claimed_until=until, claimant="", limit=100)
    assert again == []


def test_webhook_deliveries_claim_takes_the_oldest_first(subscribe, make_order):
    subscribe()
    first, second = make_order(), make_order()
    now = timezone.now()
    WebhookDelivery.objects.filter(order=second).update(next_attempt_at=now - timedelta(hours=1))

    claimed = db.webhook_deliveries_claim(
        due_by=now, claimed_until=now + timedelta(minutes=5), claimant="", limit=1
    )

    assert [delivery.order_number for delivery in claimed] == [second.number]
    assert first.number != second.number
