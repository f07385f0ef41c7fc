"""The payload: the order as GET /order/<n> shows it at the change, the change or the event,
the sequence; the same bytes on every attempt."""

import pytest
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import services
from orders.models import OrderState, WebhookDelivery
from orders.webhooks import payloads

pytestmark = pytest.mark.django_db


def test_a_change_of_state_carries_the_order_as_it_was_then(subscribe, make_order, api_client):
    subscribe()
    order = make_order(OrderState.DELIVERED)
    shown = api_client.get(f"/order/{order.number}").json()

    confirmed = payloads.payload_of(WebhookDelivery.objects.get(order=order, sequence=2))

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

    message = payloads.payload_of(WebhookDelivery.objects.get(order=order))

    assert message["type"] == "order.cancelled_by_operator"
    assert message["data"]["sequence"] == 3
    assert message["data"]["state"] == "cancelled"
    assert message["data"]["event"] == shown["events"][0]
    assert message["data"]["event"]["actor"] == "alice"


def test_the_body_is_the_same_on_every_attempt(subscribe, make_order):
    subscribe()
    order = make_order(OrderState.CONFIRMED)
    delivery = WebhookDelivery.objects.get(order=order, sequence=1)
    first = payloads.body_of(delivery)
    make_order(OrderState.DELIVERED)  # the world moves on

    again = WebhookDelivery.objects.select_related("order", "state_change", "event").get(
        pk=delivery.pk
    )
    assert payloads.body_of(again) == first
