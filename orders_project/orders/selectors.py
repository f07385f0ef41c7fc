from datetime import datetime

from django.db.models import QuerySet

from orders.exceptions import OrderNotFound
from orders.models import Order, OrderState


def order_get(*, order_number: str) -> Order:
    try:
        return Order.objects.get(number=order_number)
    except Order.DoesNotExist:
        raise OrderNotFound() from None


def order_get_with_history(*, order_number: str) -> Order:
    try:
        return Order.objects.prefetch_related("history").get(number=order_number)
    except Order.DoesNotExist:
        raise OrderNotFound() from None


def order_list(*, state: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.order_by("-id")
    return orders.filter(state=state) if state else orders


def order_numbers_awaiting_payment(*, created_before: datetime, limit: int) -> list[str]:
    """Orders still `created` since before the cutoff: their payment task was lost or gave up."""
    return list(
        Order.objects.filter(state=OrderState.CREATED, state_changed_at__lt=created_before)
        .order_by("state_changed_at")
        .values_list("number", flat=True)[:limit]
    )
