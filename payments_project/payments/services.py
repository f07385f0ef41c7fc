import random
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from payments.exceptions import PaymentConflict
from payments.models import Payment, PaymentStatus
from payments.selectors import payment_find


def payment_decide() -> str:
    """The mocked processor: confirm with PAYMENTS_CONFIRM_PROBABILITY, decline otherwise."""
    if random.random() < settings.PAYMENTS_CONFIRM_PROBABILITY:
        return PaymentStatus.CONFIRMED
    return PaymentStatus.DECLINED


def payment_create(
    *, order_number: str, name: str, address: str, amount: Decimal
) -> tuple[Payment, bool]:
    """Process the payment of an order once. Returns (payment, created).

    The same order number again gets the stored payment back, so a retry after a timeout never
    charges twice; a different amount for the same order is a conflict. Two identical requests
    racing each other are settled by the unique index: the losing insert reads the winner's row.
    """
    existing = payment_find(order_number=order_number)
    if existing is None:
        payment = Payment(
            order_number=order_number,
            name=name,
            address=address,
            amount=amount,
            status=payment_decide(),
        )
        try:
            with transaction.atomic():
                payment.save(force_insert=True)
            return payment, True
        except IntegrityError:
            existing = payment_find(order_number=order_number)
            if existing is None:
                raise
    if existing.amount != amount:
        raise PaymentConflict(
            errors={"price": [f"Order {order_number} was already paid with {existing.amount}."]}
        )
    return existing, False
