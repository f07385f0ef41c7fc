"""What a delivery sends: {"id", "type", "timestamp", "data"}, rendered when it is sent from
the values its claim read (orders/db.py's ClaimedDelivery: the order, the history row or the
event), none of which changes after the change: every retry and replay sends the same body
(docs/webhooks.md, The payload). Plain values rather than model instances: building the
instances of four models per message cost the sender more than rendering it."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from rest_framework import serializers

from orders.db import ClaimedDelivery
from orders.webhooks import event_types

# In UTC, as orders/apis.py renders the order's own times.
_DATETIME = serializers.DateTimeField(default_timezone=UTC)


def _at(value) -> str:
    return _DATETIME.to_representation(value)


class _OrderThen(NamedTuple):
    """The order as it was at the change, with the attributes order_representation() reads."""

    number: str
    name: str
    address: str
    price: Decimal
    payment_method: str
    state: str
    created_at: datetime
    updated_at: datetime


def payload_of(delivery: ClaimedDelivery) -> dict:
    """The message of `delivery`."""
    if delivery.event_type == event_types.TEST:
        return _message(
            delivery,
            _at(delivery.created_at),
            {"test": True, "subscription": delivery.subscription_id},
        )
    from orders.apis import order_representation  # the order as GET /order/<n> shows it

    data = order_representation(
        _OrderThen(
            delivery.order_number,
            delivery.order_name,
            delivery.order_address,
            delivery.order_price,
            delivery.order_payment_method,
            delivery.order_state,
            delivery.order_created_at,
            delivery.order_updated_at,
        )
    )
    data["sequence"] = delivery.sequence
    if delivery.change_to_state is not None:
        at = _at(delivery.change_at)
        data["change"] = {
            "from": delivery.change_from_state,
            "to": delivery.change_to_state,
            "reason": delivery.change_reason,
            "at": at,
        }
    else:
        at = _at(delivery.event_at)
        data["event"] = {
            "kind": delivery.event_kind,
            "detail": delivery.event_detail,
            "data": delivery.event_data,
            "transactionId": delivery.event_transaction_id,
            "actor": delivery.event_actor,
            "at": at,
        }
    return _message(delivery, at, data)


def _message(delivery: ClaimedDelivery, at: str, data: dict) -> dict:
    """The envelope every message has, around its `data`; `at`: when its change was made."""
    return {"id": delivery.message_id, "type": delivery.event_type, "timestamp": at, "data": data}


def body_of(delivery: ClaimedDelivery) -> bytes:
    """The bytes sent and signed."""
    return json.dumps(payload_of(delivery), separators=(",", ":"), ensure_ascii=False).encode()
