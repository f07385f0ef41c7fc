import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db import IntegrityError
from django.utils import timezone

from payments import db
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
from servicekit.errors import ApplicationError
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
    if db.payments_insert_unless_paid([payment]):
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


@dataclass(frozen=True)
class BatchItemResult:
    """The answer to one item of POST /payment/batch: its payment and whether it was stored
    before this item (`replayed`), or the error that answers it (invalid fields, a conflict,
    its method unavailable). `order_number` is None for an invalid item without one."""

    order_number: str | None
    payment: Payment | None = None
    replayed: bool = False
    error: ApplicationError | None = None


def payment_create_batch(
    *, payments: Sequence[PaymentRequest | BatchItemResult]
) -> list[BatchItemResult]:
    """Process many payments at once, each exactly as payment_create() would: stored once per
    order number, a replay answered with the stored payment, another amount or method a conflict.

    A provider that cannot decide one order now (ProviderUnavailable) makes that item's error a
    PaymentUnavailable, not the whole batch a 503: the other orders of the batch, often of other
    methods, are decided and stored as usual, and only that order is sent again (Orders' charger
    retries such items with backoff, counted in orders_payments_retries_total). A whole-batch
    503 would hold up and re-send every order for one provider's trouble.

    Returns one BatchItemResult per item, in order. An item given as a BatchItemResult (one the
    caller answered already: invalid fields) is kept as it is, and counts as an error in the log
    line. The first item of an order number decides; a later one with that number is answered
    as a replay of it. One INSERT stores every new payment, one read fetches those of the orders
    paid before.
    """
    now = timezone.now()
    requests = [request for request in payments if isinstance(request, PaymentRequest)]
    new: dict[str, Payment] = {}
    late: dict[str, float] = {}  # answer_after_seconds, by order number
    unavailable: dict[str, PaymentUnavailable] = {}
    for request in requests:
        number = request.order_number
        if number in new or number in unavailable:
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
    stored = db.payments_insert_unless_paid(list(new.values()))
    paid = {number: new[number] for number in stored}
    # Replays and races lost, read as payment_create() reads them: committed by now. An order
    # its provider could not decide may have been paid before: then that is its answer.
    if unstored := [number for number in new if number not in stored] + list(unavailable):
        for chunk in db.chunks(unstored, db.MAX_PARAMS):
            paid.update(payment_by_order_number(order_numbers=chunk))

    results: list[BatchItemResult] = []
    unanswered = set(stored)  # each stored by the first item of its order number, still to answer
    for request in payments:
        if isinstance(request, BatchItemResult):
            results.append(request)
            continue
        number = request.order_number
        payment = paid.get(number)
        if payment is None and number in unavailable:
            results.append(BatchItemResult(number, error=unavailable[number]))
        elif payment is None:
            raise _payment_unreadable(number)
        elif conflict := _payment_conflict(payment, amount=request.amount, method=request.method):
            results.append(BatchItemResult(number, error=conflict))
        else:
            results.append(BatchItemResult(number, payment, replayed=number not in unanswered))
            unanswered.discard(number)

    for status, count in Counter(new[number].status for number in stored).items():
        PAYMENTS.labels(status).inc(count)
    replayed = sum(1 for result in results if result.replayed)
    logger.info(
        "payment batch of %d: %d stored, %d replayed, %d errors",
        len(results),
        len(stored),
        replayed,
        len(results) - len(stored) - replayed,
    )
    _answer_late(max((late[number] for number in stored), default=0))
    return results


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
        # Whoever made the change (two refunds at once), the row then says what happened.
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
