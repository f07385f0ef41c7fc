from datetime import timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from orders.exceptions import OrderNotFound
from orders.models import (
    MISMATCH_EVENT_KINDS,
    RECONCILIATION_CHECKPOINT,
    UNKNOWN_ORDER,
    Order,
    OrderEvent,
    OrderState,
    ReconciliationCheckpoint,
    UnknownOrderPayment,
)


def order_get(*, order_number: str) -> Order:
    try:
        return Order.objects.get(number=order_number)
    except Order.DoesNotExist:
        raise OrderNotFound() from None


def order_get_with_history(*, order_number: str) -> Order:
    """The order with its state history and its events."""
    try:
        return Order.objects.prefetch_related("history", "events").get(number=order_number)
    except Order.DoesNotExist:
        raise OrderNotFound() from None


def order_list(*, state: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.order_by("-id")
    return orders.filter(state=state) if state else orders


def order_count_by_state() -> dict[str, int]:
    """How many orders are in each state, in one GROUP BY; states without orders are absent."""
    rows = Order.objects.order_by().values_list("state").annotate(count=Count("id"))
    return dict(rows)


def orders_stuck_count(*, now=None) -> dict[str, int]:
    """How many orders have waited longer than ORDERS_PAYMENT_STUCK_AFTER_SECONDS for Payments:
    still `created` that long after they were created, or with a refund due for that long.

    Counted from when the wait began, not from the last re-drive: an order re-driven again and
    again is stuck all the same, and would otherwise show only between two sweeps."""
    cutoff = (now or timezone.now()) - timedelta(
        seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS
    )
    return {
        "awaiting_payment": Order.objects.filter(
            state=OrderState.CREATED, state_changed_at__lt=cutoff
        ).count(),
        "awaiting_refund": Order.objects.filter(
            refund_queued_at__isnull=False, refund_requested_at__lt=cutoff
        ).count(),
    }


def reconciliation_summary() -> dict:
    """When reconciliation last ran, how far it got, and every mismatch it reported so far by
    kind: counted from the events and unknown payments themselves (the events on a partial
    index), so the numbers are the same in every process and survive a restart."""
    checkpoint = ReconciliationCheckpoint.objects.filter(name=RECONCILIATION_CHECKPOINT).first()
    counts = dict.fromkeys([*map(str, MISMATCH_EVENT_KINDS), UNKNOWN_ORDER], 0)
    counts.update(
        OrderEvent.objects.filter(kind__in=MISMATCH_EVENT_KINDS)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    counts[UNKNOWN_ORDER] = UnknownOrderPayment.objects.count()
    return {
        "last_run_at": checkpoint.last_run_at if checkpoint else None,
        "checked_up_to": checkpoint.checked_up_to if checkpoint else None,
        "mismatches": counts,
    }
