"""What a delivery sends: {"id", "type", "timestamp", "data"}, rendered when it is sent from
what its row points at (the history row or event, the order), none of which changes after the
change: every retry and replay sends the same body (docs/webhooks.md, The payload)."""

import json

from rest_framework import serializers

from orders.webhooks import event_types
from orders.webhooks.models import WebhookDelivery

_DATETIME = serializers.DateTimeField()


def _at(value) -> str:
    return _DATETIME.to_representation(value)


def payload_of(delivery: WebhookDelivery) -> dict:
    """The message of `delivery`, whose order, state_change and event are loaded."""
    if delivery.event_type == event_types.TEST:
        return _message(
            delivery, delivery.created_at, {"test": True, "subscription": delivery.subscription_id}
        )
    from orders.apis import order_representation  # the order as GET /order/<n> shows it

    data = order_representation(delivery.order)
    # The order as it was at the change, not as it is now.
    data["state"] = delivery.order_state
    data["updatedAt"] = _at(delivery.order_updated_at)
    data["sequence"] = delivery.sequence
    change, event = delivery.state_change, delivery.event
    at = (change or event).created_at
    if change is not None:
        data["change"] = {
            "from": change.from_state,
            "to": change.to_state,
            "reason": change.reason,
            "at": _at(at),
        }
    else:
        data["event"] = {
            "kind": event.kind,
            "detail": event.detail,
            "data": event.data,
            "transactionId": event.transaction_id,
            "actor": event.actor,
            "at": _at(at),
        }
    return _message(delivery, at, data)


def _message(delivery: WebhookDelivery, at, data: dict) -> dict:
    """The envelope every message has, around its `data`; `at`: when its change was made."""
    return {
        "id": delivery.message_id,
        "type": delivery.event_type,
        "timestamp": _at(at),
        "data": data,
    }


def body_of(delivery: WebhookDelivery) -> bytes:
    """The bytes sent and signed."""
    return json.dumps(payload_of(delivery), separators=(",", ":"), ensure_ascii=False).encode()
