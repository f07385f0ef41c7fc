"""The outbox: a delivery row per change and matching active subscription, written by the
change's own statement, in its transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import events, services, sweeps, transitions
from orders.clients import ChargeOutcome, ChargeResult
from orders.models import Order, OrderState, WebhookDelivery, WebhookSubscription
from orders.webhooks import outbox

pytestmark = pytest.mark.django_db


def deliveries(order: Order) -> list[tuple[str, int, str]]:
    return list(
        WebhookDelivery.objects.filter(order=order)
        .order_by("sequence", "subscription_id")
        .values_list("event_type", "sequence", "message_id")
    )


def test_no_subscription_writes_no_delivery(make_order):
    order = make_order(OrderState.DELIVERED)

    assert not WebhookDelivery.objects.exists()
    assert Order.objects.get(pk=order.pk).sequence == 3  # created, confirmed, delivered


def test_every_change_of_state_writes_a_delivery_in_sequence(subscribe, make_order):
    subscribe()

    order = make_order(OrderState.DELIVERED)

    n = order.number
    assert deliveries(order) == [
        ("order.created", 1, f"msg_{n}_1"),
        ("order.confirmed", 2, f"msg_{n}_2"),
        ("order.delivered", 3, f"msg_{n}_3"),
    ]
    created = WebhookDelivery.objects.get(order=order, sequence=1)
    assert created.state_change.to_state == OrderState.CREATED
    assert (created.order_state, created.status, created.attempts) == ("created", "pending", 0)


def test_only_the_types_a_subscription_wants(subscribe, make_order):
    wants_cancel = subscribe("order.cancelled")
    wants_all = subscribe()

    order = make_order(OrderState.CANCELLED)

    rows = WebhookDelivery.objects.filter(order=order)
    assert sorted(rows.filter(subscription=wants_cancel).values_list("event_type", flat=True)) == [
        "order.cancelled"
    ]
    assert sorted(rows.filter(subscription=wants_all).values_list("event_type", flat=True)) == [
        "order.cancelled",
        "order.created",
    ]
    # One id per change, whatever the subscription: receivers de-duplicate on it.
    assert len(set(rows.filter(event_type="order.cancelled").values_list("message_id"))) == 1


def test_inactive_subscription_gets_nothing(subscribe, make_order):
    subscription = subscribe()
    subscription.active = False
    subscription.save()

    make_order(OrderState.CONFIRMED)

    assert not WebhookDelivery.objects.exists()


def test_a_change_that_rolled_back_writes_nothing(subscribe, make_order):
    subscribe()
    order = make_order()

    with pytest.raises(RuntimeError), transaction.atomic():
        transitions.order_transition(
            order_number=order.number, to_state=OrderState.CONFIRMED, reason="rolled back"
        )
        raise RuntimeError("after the transition, in its transaction")

    assert [row[0] for row in deliveries(order)] == ["order.created"]
    assert Order.objects.get(pk=order.pk).sequence == 1


def test_a_batch_of_results_writes_its_deliveries_set_based(subscribe, make_order):
    subscribe()
    orders = [make_order() for _ in range(5)]
    results = [
        ChargeResult(
            order.number, ChargeOutcome.CONFIRMED if i % 2 else ChargeOutcome.DECLINED, f"t{i}"
        )
        for i, order in enumerate(orders)
    ]

    with CaptureQueriesContext(connection) as queries:
        transitions.orders_transition_many(
            from_state=OrderState.CREATED,
            transitions=[
                transitions.Transition(order.id, services.PAYMENT_STATUS_TO_STATE[r.outcome], "x")
                for order, r in zip(orders, results, strict=True)
            ],
        )

    for i, order in enumerate(orders):
        expected = "order.confirmed" if i % 2 else "order.cancelled"
        assert [row[:2] for row in deliveries(order)] == [("order.created", 1), (expected, 2)]
    if connection.vendor == "postgresql":
        # The transition, its history rows and the deliveries: one statement for the batch.
        writes = [q for q in queries.captured_queries if "orders_webhookdelivery" in q["sql"]]
        assert len(writes) == 1


def test_the_delivery_sweep_writes_order_delivered(subscribe, make_order, settings):
    settings.ORDERS_DELIVERY_DELAY_SECONDS = 0
    subscribe("order.delivered")
    order = make_order(OrderState.CONFIRMED)

    sweeps.orders_deliver_due()

    assert [row[:2] for row in deliveries(order)] == [("order.delivered", 3)]


def test_an_event_writes_a_delivery_with_the_next_sequence(subscribe, make_order):
    subscribe()
    order = make_order(OrderState.CONFIRMED)

    services.order_cancel(order_number=order.number, operator="alice")

    assert [row[:2] for row in deliveries(order)] == [
        ("order.created", 1),
        ("order.confirmed", 2),
        ("order.cancelled", 3),
        ("order.cancelled_by_operator", 4),
    ]
    event_row = WebhookDelivery.objects.get(order=order, sequence=4)
    assert event_row.event.actor == "alice"
    assert event_row.order_state == OrderState.CANCELLED


def test_an_event_counts_in_the_sequence_without_subscribers(make_order):
    order = make_order(OrderState.CANCELLED)

    events.record(order=order, event=events.refunded(transaction_id="t1"))

    assert Order.objects.get(pk=order.pk).sequence == 3


def test_active_subscriptions_are_cached_until_one_is_saved(
    subscribe, settings, django_assert_num_queries
):
    settings.ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = 60
    assert outbox.subscribers(["order.created"]) == []
    with django_assert_num_queries(0):
        assert outbox.subscribers(["order.created"]) == []

    subscription = subscribe("order.created")  # saved here: the cache is forgotten

    assert outbox.subscribers(["order.created", "order.confirmed"]) == [
        (subscription.id, "order.created")
    ]
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)  # no signal
    assert outbox.subscribers(["order.created"]) == [(subscription.id, "order.created")]
