import functools
import logging
import random
import re
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
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
    racing each other are settled by the unique index: the loser stores nothing and reads the
    winner's row.
    """
    payment = Payment(
        order_number=order_number,
        name=name,
        address=address,
        amount=amount,
        status=payment_decide(),
    )
    if _payment_insert_unless_paid(payment):
        PAYMENTS.labels(payment.status).inc()
        logger.info("payment of order %s: %s", order_number, payment.status)
        return payment, True
    # A replay, or a race lost: the winner's row is committed (PostgreSQL made our INSERT wait
    # for it), so this read sees it.
    existing = payment_find(order_number=order_number)
    if existing is None:
        # The unique index had a row that is gone now: deleted in between, by hand (nothing in
        # the service deletes payments). Nothing was stored; say so rather than guess.
        raise IntegrityError(f"order {order_number} has a payment that cannot be read")
    if existing.amount != amount:
        raise PaymentConflict(
            errors={"price": [f"Order {order_number} was already paid with {existing.amount}."]}
        )
    return existing, False


@functools.cache
def _insert_unless_paid_sql() -> tuple[str, list[models.Field]]:
    """The statement and the fields it writes, from Payment._meta; built once per process."""
    meta = Payment._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    order_number = quote(meta.get_field("order_number").column)
    # Only names from Payment._meta are formatted in; the values go as parameters.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({order_number}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def _payment_insert_unless_paid(payment: Payment) -> bool:
    """Store a new payment unless its order number has one already; True if it was stored.

    One statement, autocommitted, is one round trip (POST /payment runs once per order):
    `INSERT ... ON CONFLICT (order_number) DO NOTHING RETURNING id`, which PostgreSQL and
    SQLite >= 3.35 both speak. Raw SQL because the ORM has no such statement: save() raises on
    the unique index (and then needs BEGIN/COMMIT or a savepoint around it), and
    bulk_create(ignore_conflicts=True) wraps itself in a transaction, returns no id, and on
    SQLite ignores every constraint (INSERT OR IGNORE), not only this one. The conflict is not
    an error, so an outer atomic() stays usable.
    """
    sql, fields = _insert_unless_paid_sql()
    # The values as save() sends them (UUID as hex on SQLite, Decimal and datetimes adapted by
    # the backend); Payment() has filled in the defaults.
    params = [
        field.get_db_prep_save(field.pre_save(payment, add=True), connection) for field in fields
    ]
    # As save() does for its single INSERT: any other failure (a CHECK constraint) marks an
    # outer atomic() for rollback instead of leaving it silently broken.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    payment.pk = row[0]
    payment._state.adding = False
    payment._state.db = connection.alias
    return True


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
