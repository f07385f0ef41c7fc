from collections.abc import Collection
from datetime import datetime

from django.db.models import QuerySet

from payments.models import Payment


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.order_by("-id")


def payment_find(*, order_number: str) -> Payment | None:
    return Payment.objects.filter(order_number=order_number).first()


def payment_by_order_number(*, order_numbers: Collection[str]) -> dict[str, Payment]:
    """The payments of these orders, by order number; an order without one is left out."""
    return {
        payment.order_number: payment
        for payment in Payment.objects.filter(order_number__in=order_numbers)
    }


def payment_list_changed_since(*, since: datetime) -> QuerySet[Payment]:
    """The payments created or changed (refunded) at or after `since`, least recently first."""
    return Payment.objects.filter(updated_at__gte=since).order_by("updated_at", "id")
