"""Facts about an order that change no state (orders.models.OrderEvent)."""

from orders.models import Order, OrderEvent

PAYMENTS = "payments"  # the actor of what Payments answered


def order_event_record_once(
    *, order: Order, kind: str, detail: str, transaction_id: str = "", actor: str = PAYMENTS
) -> bool:
    """Record the event unless the order has one of this kind and transaction id already; True
    if it wrote. Call with the order's row locked (select_for_update), so that two deliveries of
    the same fact write it once."""
    if order.events.filter(kind=kind, transaction_id=transaction_id).exists():
        return False
    OrderEvent.objects.create(
        order=order, kind=kind, detail=detail, transaction_id=transaction_id, actor=actor
    )
    return True


def order_event_record(*, order: Order, kind: str, detail: str, actor: str) -> OrderEvent:
    """Record a fact that happens once by construction (it comes with a move that the
    compare-and-set let through once), so it needs no check for a copy."""
    return OrderEvent.objects.create(order=order, kind=kind, detail=detail, actor=actor)
