"""Facts about an order that change no state (orders.models.OrderEvent): one function per kind
builds the event, its human line (`detail`) and its structured `data`; record() and
record_once() write it.

`data` holds the facts of the kind (the states, amounts and codes the line speaks of), so that
code reading events reads them there and never parses `detail`; the transaction id and the
actor have columns of their own. OrderEventKind lists the kinds, and BUILDERS names the
function of each kind written today (NOTE is only what migration 0003 made of older lines)."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from orders import db
from orders.models import Order, OrderEvent, OrderEventKind
from orders.webhooks import outbox

PAYMENTS = "payments"  # the actor of what Payments answered
RECONCILIATION = "reconciliation"  # the actor of what reconciliation found


@dataclass(frozen=True)
class NewOrderEvent:
    """An event built by one of the functions below, not yet recorded."""

    kind: OrderEventKind
    detail: str
    actor: str
    data: dict = field(default_factory=dict)
    transaction_id: str = ""


# --- What Payments answered -------------------------------------------------------------------


def payment_after_cancellation(*, outcome: str, transaction_id: str) -> NewOrderEvent:
    """Payments decided (`outcome`: confirmed, declined, refunded) after the customer had
    cancelled: the cancel stands, and a confirmed charge is refunded."""
    return NewOrderEvent(
        OrderEventKind.PAYMENT_AFTER_CANCELLATION,
        f"payment {outcome} after cancellation",
        PAYMENTS,
        {"outcome": str(outcome)},
        transaction_id,
    )


def refunded(*, transaction_id: str) -> NewOrderEvent:
    """Payments gave a cancelled order's charge back."""
    return NewOrderEvent(OrderEventKind.REFUNDED, "payment refunded", PAYMENTS, {}, transaction_id)


# Why Payments had nothing to give back, by its error code.
NOTHING_CHARGED = {
    "payment_not_found": "no payment was taken",
    # Declined, or confirmed by a method that charges nothing up front (cash on delivery).
    "payment_not_refundable": "the payment was declined or charged nothing",
}


def refund_not_needed(*, payments_code: str) -> NewOrderEvent:
    """Payments answered the refund of a cancelled order with "nothing was charged"."""
    why = NOTHING_CHARGED.get(payments_code, "nothing was charged")
    return NewOrderEvent(
        OrderEventKind.REFUND_NOT_NEEDED,
        f"no refund needed: {why} ({payments_code})",
        PAYMENTS,
        {"paymentsCode": payments_code},
    )


# --- What an operator did ---------------------------------------------------------------------


def cancelled_by_operator(*, operator: str, from_state: str) -> NewOrderEvent:
    """An operator (the admin user's name) cancelled the order, which was `from_state`: who did
    it is a fact, not a state (the history row records the transition)."""
    return NewOrderEvent(
        OrderEventKind.CANCELLED_BY_OPERATOR,
        f"cancelled in the admin (was {from_state})",
        operator,
        {"fromState": str(from_state)},
    )


# --- What reconciliation found (orders/reconciliation.py) -------------------------------------


def refunded_not_cancelled(*, order_state: str, transaction_id: str) -> NewOrderEvent:
    """The charge was refunded at Payments, but the order is not cancelled."""
    return NewOrderEvent(
        OrderEventKind.REFUNDED_NOT_CANCELLED,
        f"the charge was refunded at Payments; the order is {order_state}",
        RECONCILIATION,
        {"paymentStatus": "refunded", "orderState": str(order_state)},
        transaction_id,
    )


def status_differs(*, payment_status: str, order_state: str, transaction_id: str) -> NewOrderEvent:
    """Payments' decision contradicts the order's state: declined, yet the order is not
    cancelled; or a confirmed charge stands for an order cancelled with no refund asked for."""
    if payment_status == "declined":
        detail = f"Payments declined the payment; the order is {order_state}"
    else:
        detail = (
            f"Payments holds a {payment_status} charge; the order was {order_state} with no "
            "refund asked for"
        )
    return NewOrderEvent(
        OrderEventKind.STATUS_DIFFERS,
        detail,
        RECONCILIATION,
        {"paymentStatus": str(payment_status), "orderState": str(order_state)},
        transaction_id,
    )


def amount_differs(
    *, payments_amount: Decimal, order_price: Decimal, transaction_id: str
) -> NewOrderEvent:
    """Payments has another amount than the order's price."""
    return NewOrderEvent(
        OrderEventKind.AMOUNT_DIFFERS,
        f"Payments has {payments_amount}, the order {order_price}",
        RECONCILIATION,
        # Text, as the API writes amounts: a JSON number would lose the trailing zeros.
        {"paymentsAmount": str(payments_amount), "orderPrice": str(order_price)},
        transaction_id,
    )


# The function that builds each kind written today.
BUILDERS: dict[OrderEventKind, Callable[..., NewOrderEvent]] = {
    OrderEventKind.PAYMENT_AFTER_CANCELLATION: payment_after_cancellation,
    OrderEventKind.REFUNDED: refunded,
    OrderEventKind.REFUND_NOT_NEEDED: refund_not_needed,
    OrderEventKind.CANCELLED_BY_OPERATOR: cancelled_by_operator,
    OrderEventKind.REFUNDED_NOT_CANCELLED: refunded_not_cancelled,
    OrderEventKind.AMOUNT_DIFFERS: amount_differs,
    OrderEventKind.STATUS_DIFFERS: status_differs,
}


# --- Recording --------------------------------------------------------------------------------


def record(*, order: Order, event: NewOrderEvent, created_at: datetime | None = None) -> OrderEvent:
    """Record a fact that happens once by construction (it comes with a transition that the
    compare-and-set let through once, or a refund settled once), so it needs no check for a
    copy. It is one more change of the order (its sequence number), and in the same
    transaction its webhook deliveries are written (orders/webhooks/outbox.py)."""
    with transaction.atomic():
        # The event's fields are the row's columns.
        row = OrderEvent.objects.create(
            order=order,
            **asdict(event),
            **({"created_at": created_at} if created_at is not None else {}),
        )
        sequence = db.order_next_sequence(order)
        event_type = f"order.{event.kind}"
        if subscribers := outbox.subscribers([event_type]):
            db.deliveries_insert(
                subscribers=subscribers,
                order=order,
                sequence=sequence,
                event_type=event_type,
                at=row.created_at,
                event_id=row.pk,
            )
            outbox.wake_sender_on_commit()
    return row


def record_once(*, order: Order, event: NewOrderEvent) -> bool:
    """Record the event unless the order has one of its kind and transaction id already; True
    if it wrote. Call with the order's row locked (select_for_update), so that two deliveries of
    the same fact write it once."""
    if order.events.filter(kind=event.kind, transaction_id=event.transaction_id).exists():
        return False
    record(order=order, event=event)
    return True
