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
        return {
            "id": delivery.message_id,
            "type": delivery.event_type,
            "timestamp": _at(delivery.created_at),
            "data": {"test": True, "subscription": delivery.subscription_id},
        }
    from orders.apis import order_representation  # the order as GET /order/<n> shows it

    data = order_representation(delivery.order)
    # The order as it was at the change, not as it is now.
    data["state"] = delivery.order_state
    data["updatedAt"] = _at(delivery.order_updated_at)
    data["sequence"] = delivery.sequence
    if delivery.state_change is not None:
        change = delivery.state_change
        at = change.created_at
        data["change"] = {
            "from": change.from_state,
            "to": change.to_state,
            "reason": change.reason,
            "at": _at(at),
        }
    else:
        event = delivery.event
        at = event.created_at
        data["event"] = {
            "kind": event.kind,
            "detail": event.detail,
            "data": event.data,
            "transactionId": event.transaction_id,
            "actor": event.actor,
            "at": _at(at),
        }
    return {
        "id": delivery.message_id,
        "type": delivery.event_type,
        "timestamp": _at(at),
        "data": data,
    }


def body_of(delivery: WebhookDelivery) -> bytes:
    """The bytes sent and signed."""
    return json.dumps(payload_of(delivery), separators=(",", ":"), ensure_ascii=False).encode()
