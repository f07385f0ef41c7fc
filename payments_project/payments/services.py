import logging
import random
import re
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.exceptions import PaymentConflict, PaymentNotFound, PaymentNotRefundable
from payments.metrics import PAYMENTS
from payments.models import Payment, PaymentStatus
from payments.selectors import payment_find

logger = logging.getLogger(__name__)


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
            PAYMENTS.labels(payment.status).inc()
            logger.info("payment of order %s: %s", order_number, payment.status)
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


# What POST /payment accepts as an order number; anything else cannot have a payment.
_ORDER_NUMBER = re.compile(r"[a-z0-9]{8}")


def _refund_if_confirmed(*, order_number: str) -> None:
    """The compare-and-set: confirmed -> refunded in one UPDATE, so two refunds never both win."""
    now = timezone.now()
    if Payment.objects.filter(order_number=order_number, status=PaymentStatus.CONFIRMED).update(
        status=PaymentStatus.REFUNDED, refunded_at=now, updated_at=now
    ):
        PAYMENTS.labels(PaymentStatus.REFUNDED).inc()
        logger.info("payment of order %s: refunded", order_number)


def payment_refund(*, order_number: str) -> Payment:
    """Refund the confirmed payment of an order. Safe to repeat and to run twice at once.

    An already refunded payment is returned as it is (the first refund's time stands); a declined
    one charged nothing and is not refundable; no payment at all is not found.
    """
    if not _ORDER_NUMBER.fullmatch(order_number):
        raise PaymentNotFound()
    _refund_if_confirmed(order_number=order_number)
    # Whoever made the move, the row now says what happened; answer from it.
    payment = payment_find(order_number=order_number)
    if payment is not None and payment.status == PaymentStatus.CONFIRMED:
        # Stored by a POST /payment between the UPDATE and this read: it is ours to refund.
        _refund_if_confirmed(order_number=order_number)
        payment.refresh_from_db()
    if payment is None:
        raise PaymentNotFound(f"There is no payment for order {order_number}.")
    if payment.status != PaymentStatus.REFUNDED:
        raise PaymentNotRefundable(
            f"The payment of order {order_number} is {payment.status}, not confirmed: "
            "nothing was charged, so there is nothing to refund."
        )
    return payment
