from django.db.models import QuerySet

from orders.exceptions import OrderNotFound
from orders.models import Order


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
