"""The payload: the order as GET /order/<n> shows it at the change, the change or the event,
the sequence; the same bytes on every attempt."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import db, services
from orders.models import Order, OrderEvent, OrderState, OrderStateChange, WebhookDelivery
from orders.webhooks import payloads
from orders.webhooks import services as webhook_services

pytestmark = pytest.mark.django_db


def stored(delivery_id: int) -> db.ClaimedDelivery:
    """The delivery as a claim reads it."""
    return db.webhook_deliveries_read([delivery_id])[0]


def test_a_change_of_state_carries_the_order_as_it_was_then(subscribe, make_order, api_client):
    subscribe()
    order = make_order(OrderState.DELIVERED)
    shown = api_client.get(f"/order/{order.number}").json()

    confirmed = payloads.payload_of(stored(WebhookDelivery.objects.get(order=order, sequence=2).pk))

    history = shown["history"][1]
    assert confirmed["id"] == f"msg_{order.number}_2"
    assert confirmed["type"] == "order.confirmed"
    assert confirmed["timestamp"] == history["at"]
    data = confirmed["data"]
    assert data.pop("change") == history  # from, to, reason, at
    assert data.pop("sequence") == 2
    # The order as GET /order/<n> shows it (without history and events), as it was then.
    now = {key: value for key, value in shown.items() if key not in ("history", "events")}
    assert data == {**now, "state": "confirmed", "updatedAt": history["at"]}


def test_an_event_carries_its_kind_detail_actor_and_data(subscribe, make_order, api_client):
    subscribe("order.cancelled_by_operator")
    order = make_order(OrderState.CREATED)
    services.order_cancel(order_number=order.number, operator="alice")
    shown = api_client.get(f"/order/{order.number}").json()

    message = payloads.payload_of(stored(WebhookDelivery.objects.get(order=order).pk))

    assert message["type"] == "order.cancelled_by_operator"
    assert message["data"]["sequence"] == 3
    assert message["data"]["state"] == "cancelled"
    assert message["data"]["event"] == shown["events"][0]
    assert message["data"]["event"]["actor"] == "alice"


def test_the_body_is_the_same_on_every_attempt(subscribe, make_order):
    subscribe()
    order = make_order(OrderState.CONFIRMED)
    delivery = WebhookDelivery.objects.get(order=order, sequence=1)
    first = payloads.body_of(stored(delivery.pk))
    make_order(OrderState.DELIVERED)  # the world moves on

    assert payloads.body_of(stored(delivery.pk)) == first


CREATED_AT = datetime(2026, 12, 7, 21, 2, 10, 933408, tzinfo=UTC)
AT = datetime(2026, 12, 7, 21, 2, 11, 482113, tzinfo=UTC)


def test_the_bodies_are_pinned_byte_for_byte(subscribe, make_order):
    """What receivers parse and what the signature covers: any change of the bytes is a change
    of the interface, whichever way the sender reads and renders them."""
    subscription = subscribe()
    order = make_order(name="Zoë", address="12 Analytical St")
    services.order_cancel(order_number=order.number, operator="alice")
    Order.objects.filter(pk=order.pk).update(created_at=CREATED_AT, price=Decimal("12.5"))
    OrderStateChange.objects.filter(order=order, to_state="cancelled").update(
        created_at=AT, reason="cancelled (by alice)"
    )
    # Keys in the order PostgreSQL's jsonb keeps them (shorter first), so both backends agree.
    OrderEvent.objects.filter(order=order).update(
        created_at=AT, detail="cancelled by alice", data={"a": [1, "ü"], "bb": None}
    )
    WebhookDelivery.objects.filter(order=order).update(order_updated_at=AT)
    test = webhook_services.test_message_send(subscription)
    WebhookDelivery.objects.filter(pk=test.pk).update(created_at=AT)
    n = order.number
    at, created = "2026-12-07T21:02:11.482113Z", "2026-12-07T21:02:10.933408Z"
    the_order = (
        f'"orderNumber":"{n}","name":"Zoë","address":"12 Analytical St","price":"12.50",'
        f'"paymentMethod":"card","state":"cancelled","createdAt":"{created}","updatedAt":"{at}"'
    )

    cancelled = WebhookDelivery.objects.get(order=order, event_type="order.cancelled").pk
    assert (
        payloads.body_of(stored(cancelled))
        == (
            f'{{"id":"msg_{n}_2","type":"order.cancelled","timestamp":"{at}","data":{{{the_order},'
            f'"sequence":2,"change":{{"from":"created","to":"cancelled",'
            f'"reason":"cancelled (by alice)","at":"{at}"}}}}}}'
        ).encode()
    )
    by_operator = WebhookDelivery.objects.get(order=order, event_type="order.cancelled_by_operator")
    assert (
        payloads.body_of(stored(by_operator.pk))
        == (
            f'{{"id":"msg_{n}_3","type":"order.cancelled_by_operator","timestamp":"{at}",'
            f'"data":{{{the_order},"sequence":3,"event":{{"kind":"cancelled_by_operator",'
            f'"detail":"cancelled by alice","data":{{"a":[1,"ü"],"bb":null}},"transactionId":"",'
            f'"actor":"alice","at":"{at}"}}}}}}'
        ).encode()
    )
    assert (
        payloads.body_of(stored(test.pk))
        == (
            f'{{"id":"{test.message_id}","type":"webhook.test","timestamp":"{at}",'
            f'"data":{{"test":true,"subscription":{subscription.pk}}}}}'
        ).encode()
    )
