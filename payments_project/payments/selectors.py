from django.db.models import QuerySet

from payments.models import Payment


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.order_by("-id")


def payment_find(*, order_number: str) -> Payment | None:
    return Payment.objects.filter(order_number=order_number).first()
