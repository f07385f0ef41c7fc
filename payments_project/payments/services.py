import functools
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from payments.exceptions import (
    PaymentConflict,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentUnavailable,
)
from payments.metrics import PAYMENTS, PAYMENTS_UNAVAILABLE
from payments.models import Payment, PaymentStatus
from payments.providers import DEFAULT_METHOD, Charge, Decision, ProviderUnavailable, registry
from payments.selectors import payment_by_order_number, payment_find
from servicekit.fields import ORDER_NUMBER_PATTERN

logger = logging.getLogger(__name__)


def payment_decide(*, order_number: str, amount: Decimal, method: str) -> Decision:
    """Ask the method's provider (payments/providers/) to decide; raises ProviderUnavailable.
    The method was checked against the registry by the API."""
    provider = registry().get(method).provider
    try:
        return provider.decide(Charge(order_number, amount, method))
    except ProviderUnavailable:
        PAYMENTS_UNAVAILABLE.labels(method).inc()
        raise


def payment_create(
    *, order_number: str, name: str, address: str, amount: Decimal, method: str = DEFAULT_METHOD
) -> tuple[Payment, bool]:
    """Process the payment of an order once. Returns (payment, created).

    The same order number again gets the stored payment back, so a retry after a timeout never
    charges twice; a different amount or method for the same order is a conflict. Two identical
    requests racing each other are settled by the unique index: the loser stores nothing and
    reads the winner's row. A provider that cannot decide now is a PaymentUnavailable (503),
    unless the order was paid before: a replay is answered from the stored payment.
    """
    try:
        decision = payment_decide(order_number=order_number, amount=amount, method=method)
    except ProviderUnavailable as exc:
        existing = payment_find(order_number=order_number)
        if existing is None:
            raise PaymentUnavailable(str(exc)) from exc
        return _check_replay(existing, amount=amount, method=method), False
    payment = Payment(
        order_number=order_number,
        name=name,
        address=address,
        amount=amount,
        method=method,
        status=decision.status,
    )
    if _payments_insert_unless_paid([payment]):
        PAYMENTS.labels(payment.status).inc()
        logger.info("payment of order %s (%s): %s", order_number, method, payment.status)
        _answer_late(decision.answer_after_seconds)
        return payment, True
    # A replay, or a race lost: the winner's row is committed (PostgreSQL made our INSERT wait
    # for it), so this read sees it.
    existing = payment_find(order_number=order_number)
    if existing is None:
        raise _payment_unreadable(order_number)
    return _check_replay(existing, amount=amount, method=method), False


def _check_replay(existing: Payment, *, amount: Decimal, method: str) -> Payment:
    if conflict := _payment_conflict(existing, amount=amount, method=method):
        raise conflict
    return existing


def _answer_late(seconds: float) -> None:
    # A provider asked for a late answer (test_timeout_then_confirm): the payment is stored and
    # committed already, so a caller that gives up meanwhile was charged, and its retry is
    # answered from the stored payment: the unknown outcome, ending in one charge. In a batch the
    # whole answer is late, as with a real timeout: every order of it is unknown to Orders, sent
    # again, and answered from what was stored.
    if seconds:
        logger.info("answering %.1f s late, as the payment method asks", seconds)
        time.sleep(seconds)


class PaymentRequest(NamedTuple):
    """One payment to process: what POST /payment/batch validated for one of its items."""

    order_number: str
    name: str
    address: str
    amount: Decimal
    method: str = DEFAULT_METHOD


def payment_create_batch(
    *, payments: Sequence[PaymentRequest | None]
) -> list[tuple[Payment, bool] | PaymentConflict | PaymentUnavailable | None]:
    """Process many payments at once, each exactly as payment_create() would: stored once per
    order number, a replay answered with the stored payment, another amount or method a conflict.

    A provider that cannot decide one order now (ProviderUnavailable) makes that item a
    PaymentUnavailable, not the whole batch a 503: the other orders of the batch, often of other
    methods, are decided and stored as usual, and only that order is sent again (Orders' charger
    retries such items with backoff, counted in orders_payments_retries_total). A whole-batch
    503 would hold up and re-send every order for one provider's trouble.

    Returns one answer per item, in order: (payment, created), a PaymentConflict, a
    PaymentUnavailable, or None for an
    item given as None (one the caller refused; it only counts in the log line). The first item
    of an order number decides; a later one with that number is answered as a replay of it. One
    INSERT stores every new payment, one read fetches those of the orders paid before.
    """
    now = timezone.now()
    new: dict[str, Payment] = {}
    late: dict[str, float] = {}  # answer_after_seconds, by order number
    unavailable: dict[str, PaymentUnavailable] = {}
    for request in payments:
        number = request.order_number if request is not None else None
        if request is None or number in new or number in unavailable:
            continue
        try:
            decision = payment_decide(
                order_number=number, amount=request.amount, method=request.method
            )
        except ProviderUnavailable as exc:
            unavailable[number] = PaymentUnavailable(str(exc))
            continue
        late[number] = decision.answer_after_seconds
        new[number] = Payment(
            order_number=number,
            name=request.name,
            address=request.address,
            amount=request.amount,
            method=request.method,
            status=decision.status,
            created_at=now,
            updated_at=now,
        )
    stored = _payments_insert_unless_paid(list(new.values()))
    paid = {number: new[number] for number in stored}
    # Replays and races lost, read as payment_create() reads them: committed by now. An order
    # its provider could not decide may have been paid before: then that is its answer.
    if unstored := [number for number in new if number not in stored] + list(unavailable):
        for chunk in _chunks(unstored, _MAX_PARAMS):
            paid.update(payment_by_order_number(order_numbers=chunk))

    answers: list[tuple[Payment, bool] | PaymentConflict | None] = []
    unanswered = set(stored)  # each stored by the first item of its order number, still to answer
    for request in payments:
        if request is None:
            answers.append(None)
            continue
        payment = paid.get(request.order_number)
        if payment is None and request.order_number in unavailable:
            answers.append(unavailable[request.order_number])
        elif payment is None:
            raise _payment_unreadable(request.order_number)
        elif conflict := _payment_conflict(payment, amount=request.amount, method=request.method):
            answers.append(conflict)
        elif request.order_number in unanswered:
            unanswered.remove(request.order_number)
            answers.append((payment, True))
        else:
            answers.append((payment, False))

    for status, count in Counter(new[number].status for number in stored).items():
        PAYMENTS.labels(status).inc(count)
    replayed = sum(1 for answer in answers if isinstance(answer, tuple) and not answer[1])
    logger.info(
        "payment batch of %d: %d stored, %d replayed, %d errors",
        len(answers),
        len(stored),
        replayed,
        len(answers) - len(stored) - replayed,
    )
    _answer_late(max((late[number] for number in stored), default=0))
    return answers


def _payment_conflict(existing: Payment, *, amount: Decimal, method: str) -> PaymentConflict | None:
    """A conflict naming each field that differs from the stored payment; None if none does."""
    number, errors = existing.order_number, {}
    if existing.amount != amount:
        errors["price"] = [f"Order {number} was already paid with {existing.amount}."]
    if existing.method != method:
        errors["paymentMethod"] = [f"Order {number} was already paid by {existing.method}."]
    return PaymentConflict(errors=errors) if errors else None


def _payment_unreadable(order_number: str) -> IntegrityError:
    # The unique index had a row that is gone now: deleted in between, by hand (nothing in the
    # service deletes payments). Nothing was stored; say so rather than guess.
    return IntegrityError(f"order {order_number} has a payment that cannot be read")


# Host parameters per statement: SQLite (>= 3.32) takes 32766 by default, PostgreSQL 65535.
_MAX_PARAMS = 32766


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


@functools.cache
def _insert_unless_paid_sql() -> tuple[str, str, str, list[models.Field]]:
    """The statement as head, one row's placeholders and tail, and the fields it writes, from
    Payment._meta; built once per process. Head + rows joined by ", " + tail is the statement."""
    meta = Payment._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    order_number = quote(meta.get_field("order_number").column)
    # Only names from Payment._meta are formatted in; the values go as parameters.
    head = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
    pk = quote(meta.pk.column)
    tail = f" ON CONFLICT ({order_number}) DO NOTHING RETURNING {order_number}, {pk}"
    return head, row, tail, fields


def _payments_insert_unless_paid(payments: list[Payment]) -> set[str]:
    """Store each new payment unless its order number has one already; returns the order numbers
    of those stored (which get their pk). The order numbers must be distinct.

    One statement, autocommitted, is one round trip, for one payment (POST /payment) or many
    (POST /payment/batch, split past _MAX_PARAMS): `INSERT ... VALUES (...), (...) ON CONFLICT
    (order_number) DO NOTHING RETURNING order_number, id`, which PostgreSQL and SQLite >= 3.35
    both speak. Raw SQL because the ORM has no such statement: save() raises on the unique index
    (and then needs BEGIN/COMMIT or a savepoint around it), and bulk_create(ignore_conflicts=True)
    wraps itself in a transaction, returns no id, and on SQLite ignores every constraint (INSERT
    OR IGNORE), not only this one. The conflict is not an error, so an outer atomic() stays
    usable.
    """
    if not payments:
        return set()
    head, row, tail, fields = _insert_unless_paid_sql()
    # By order number: two batches sharing orders wait on each other's rows in the same order,
    # never each on the other's (a deadlock on PostgreSQL). The new ids follow that order too.
    payments = sorted(payments, key=lambda payment: payment.order_number)
    stored: dict[str, int] = {}
    # As save() does for its single INSERT: any other failure (a CHECK constraint) marks an
    # outer atomic() for rollback instead of leaving it silently broken.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        for chunk in _chunks(payments, _MAX_PARAMS // len(fields)):
            cursor.execute(head + ", ".join([row] * len(chunk)) + tail, _db_params(fields, chunk))
            stored.update(cursor.fetchall())
    for payment in payments:
        if payment.order_number in stored:
            payment.pk = stored[payment.order_number]
            payment._state.adding = False
            payment._state.db = connection.alias
    return set(stored)


def _db_params(fields: list[models.Field], payments: list[Payment]) -> list:
    """The payments' values, row after row, as save() sends them (UUID as hex on SQLite, Decimal
    and datetimes adapted by the backend); Payment() has filled in the defaults. A value that is
    the very object of the row before (a batch's timestamps, the empty refund time) is adapted
    once: datetimes cost the most to adapt, and every row of a batch has the same ones."""
    params = []
    previous: list[tuple[object, object]] = [(object(), None)] * len(fields)
    for payment in payments:
        for index, field in enumerate(fields):
            value = field.pre_save(payment, add=True)
            if value is not previous[index][0]:
                previous[index] = (value, field.get_db_prep_save(value, connection))
            params.append(previous[index][1])
    return params


# What POST /payment accepts as an order number; anything else cannot have a payment.
_ORDER_NUMBER = re.compile(ORDER_NUMBER_PATTERN)


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
    one, or one whose method charged nothing (cash on delivery), is not refundable; no payment at
    all is not found.
    """
    if not _ORDER_NUMBER.fullmatch(order_number):
        raise PaymentNotFound()
    payment = payment_find(order_number=order_number)
    if payment is None:
        raise PaymentNotFound(f"There is no payment for order {order_number}.")
    if payment.status == PaymentStatus.CONFIRMED:
        if not _gives_back(payment):
            raise PaymentNotRefundable(
                f"The payment of order {order_number} is {payment.method}: nothing was charged, "
                "so there is nothing to refund."
            )
        # Whoever made the move (two refunds at once), the row then says what happened.
        _refund_if_confirmed(order_number=order_number)
        payment.refresh_from_db()
    if payment.status != PaymentStatus.REFUNDED:
        raise PaymentNotRefundable(
            f"The payment of order {order_number} is {payment.status}, not confirmed: "
            "nothing was charged, so there is nothing to refund."
        )
    return payment


def _gives_back(payment: Payment) -> bool:
    method = registry().get(payment.method)
    if method is None:
        # Its method was removed from PAYMENTS_METHODS since: the charge stands, and money
        # taken must go back, so it is refunded as a charge.
        logger.warning(
            "order %s: method %s is gone, refunding", payment.order_number, payment.method
        )
        return True
    return method.provider.refund(Charge(payment.order_number, payment.amount, payment.method))
