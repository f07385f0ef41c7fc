"""The life of an order: creation, cancellation, and the payment results applied to it. Every
change of state goes through orders/transitions.py."""

import logging
import secrets
from collections import Counter
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from orders import dispatch, events, refunds, transitions
from orders.clients import PaymentResult
from orders.metrics import PAYMENT_RESULTS
from orders.models import (
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    Order,
    OrderEventKind,
    OrderState,
    OrderStateChange,
)

logger = logging.getLogger(__name__)


ORDER_NUMBER_ATTEMPTS = 5


def order_number_generate() -> str:
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def order_create(*, name: str, address: str, price: Decimal, payment_method: str = "card") -> Order:
    """Write the order and its first history row; once committed, wake the charger. The order
    row is the payment's outbox: no message per order."""

    for _ in range(ORDER_NUMBER_ATTEMPTS):
        now = timezone.now()
        order = Order(
            number=order_number_generate(),
            name=name,
            address=address,
            price=price,
            payment_method=payment_method,
            state=OrderState.CREATED,
            state_changed_at=now,
            payment_requested_at=now,
            created_at=now,
            updated_at=now,
        )
        # 36^8 numbers make a clash rare; the unique index catches it, a new draw fixes it.
        if not _order_insert_with_history(order, reason="order created"):
            logger.warning("order number %s already taken, drawing another", order.number)
            continue
        # robust: with the broker down the order still stands (and the client gets its 201);
        # the re-drive sweep wakes the charger later.
        transaction.on_commit(dispatch.wake_charger, robust=True)
        logger.info("order %s: created", order.number)
        return order
    raise RuntimeError(f"no free order number after {ORDER_NUMBER_ATTEMPTS} attempts")


# PostgreSQL writes a new order and its first history row in one statement. A statement is a
# transaction of its own, so this is one round trip where the ORM needs four (BEGIN, two
# INSERTs, COMMIT), and no INSERT for Django to compile: the largest costs of POST /order after
# the publish (docs/performance.md). A number already taken inserts nothing and returns no row.
_INSERT_ORDER_WITH_HISTORY = """
    WITH new_order AS (
        INSERT INTO orders_order (number, name, address, price, payment_method, state,
                                  state_changed_at, payment_requested_at, created_at, updated_at)
        VALUES (%(number)s, %(name)s, %(address)s, %(price)s, %(payment_method)s, %(state)s,
                %(now)s, %(now)s, %(now)s, %(now)s)
        ON CONFLICT (number) DO NOTHING
        RETURNING id
    )
    INSERT INTO orders_orderstatechange (order_id, from_state, to_state, reason, created_at)
    SELECT id, NULL, %(state)s, %(reason)s, %(now)s FROM new_order
    RETURNING order_id
"""


def _order_insert_with_history(order: Order, *, reason: str) -> bool:
    """Insert the new order and its first history row, atomically; False if its number is taken.
    The order's fields are all set already (created_at and the other clocks equal)."""
    if connection.vendor == "postgresql":
        params = {
            "number": order.number,
            "name": order.name,
            "address": order.address,
            "price": order.price,
            "payment_method": order.payment_method,
            "state": order.state,
            "now": order.created_at,
            "reason": reason,
        }
        # As save() does for its INSERT: inside a caller's transaction (an Idempotency-Key
        # request), any other failure (a CHECK constraint) marks it for rollback.
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(_INSERT_ORDER_WITH_HISTORY, params)
            row = cursor.fetchone()
        if row is None:
            return False
        order.id = row[0]
        order._state.adding, order._state.db = False, connection.alias
        return True
    # SQLite (the embedded default) has no INSERT inside WITH: the ORM, in one transaction.
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            OrderStateChange.objects.create(
                order=order,
                from_state=None,
                to_state=order.state,
                reason=reason,
                created_at=order.created_at,
            )
    except IntegrityError:
        if not Order.objects.filter(number=order.number).exists():
            raise
        return False
    return True


def order_transition(*, order_number: str, to_state: str, reason: str) -> Order:
    return transitions.order_move(order_number=order_number, to_state=to_state, reason=reason)[0]


def order_cancel(*, order_number: str, operator: str | None = None) -> Order:
    """Cancel for the customer, or for an `operator` (the admin user's name, recorded as an
    event), and in the same transaction make sure no charge stays behind.

    From `confirmed` the payment was taken: its refund is queued at once. From `created` a
    charge may exist that Orders never heard of (the payment call timed out, and its retry now
    sees the cancel and stops asking): a refund is marked due but not queued, so the re-drive
    sweep sends it after ORDERS_PAYMENT_STUCK_AFTER_SECONDS, once any call in flight has ended.
    Payments then refunds the charge, or answers that there is none (recorded, nothing more)."""
    with transaction.atomic():
        order, from_state = transitions.order_move(
            order_number=order_number,
            to_state=OrderState.CANCELLED,
            reason="cancelled by customer" if operator is None else "cancelled by an operator",
        )
        if operator is not None:
            events.order_event_record(
                order=order,
                kind=OrderEventKind.CANCELLED_BY_OPERATOR,
                detail=f"cancelled in the admin (was {from_state})",
                actor=operator,
            )
        refunds.order_refund_request(order=order, queue=from_state == OrderState.CONFIRMED)
    order.refresh_from_db()
    return order


PAYMENT_STATUS_TO_STATE = {
    "confirmed": OrderState.CONFIRMED,
    "declined": OrderState.CANCELLED,
    # Only a replay can answer this (the order was cancelled and refunded since): nothing is
    # charged, so the order cannot be confirmed; it is recorded like any late result.
    "refunded": OrderState.CANCELLED,
}


def _payment_reason(result: PaymentResult) -> str:
    return f"payment {result.status} ({result.transaction_id})"


def orders_apply_payment_results(*, results: list[PaymentResult]) -> set[str]:
    """Apply Payments' decisions: one set-based compare-and-set from `created` for the whole
    batch. An order that moved meanwhile is looked at alone (rare): a repeat of a result
    already applied changes nothing; a result after the customer cancelled is recorded as an
    event, and a confirmed charge is refunded. Return the numbers of the orders this call
    moved out of `created`."""
    if not results:
        return set()
    by_number = {result.order_number: result for result in results}
    ids = dict(Order.objects.filter(number__in=by_number).values_list("number", "id"))
    moves = [
        transitions.Move(
            order_id=ids[number],
            to_state=PAYMENT_STATUS_TO_STATE[result.status],
            reason=_payment_reason(result),
        )
        for number, result in by_number.items()
        if number in ids
    ]
    moved = transitions.orders_move_many(from_state=OrderState.CREATED, moves=moves)
    applied = Counter(by_number[number].status for number, id_ in ids.items() if id_ in moved)
    for status, count in applied.items():
        PAYMENT_RESULTS.labels(status).inc(count)
    for number, result in by_number.items():
        if number in ids and ids[number] not in moved:
            _order_apply_late_result(order_id=ids[number], result=result)
    return {number for number, id_ in ids.items() if id_ in moved}


def order_apply_payment_result(
    *, order_number: str, payment_status: str, transaction_id: str
) -> Order:
    """Apply one decision (a batch of one); return the order as it is now."""
    orders_apply_payment_results(
        results=[PaymentResult(order_number, payment_status, transaction_id)]
    )
    return Order.objects.get(number=order_number)


def _order_apply_late_result(*, order_id: int, result: PaymentResult) -> None:
    """A decision for an order that had left `created` before it arrived."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id)
        # A decline that finds the order cancelled is a repeat only if it did the cancelling;
        # after a cancel by the customer it is a late result like a confirmation.
        applied = OrderStateChange.objects.filter(order=order, reason=_payment_reason(result))
        if order.state != OrderState.CANCELLED or applied.exists():
            return  # the same result applied twice (a batch sent again): nothing more to do
        # The customer cancelled while the payment was in flight: the cancel stands, and the
        # late result is recorded so that nobody has to guess what happened. A late
        # confirmation charged a cancelled order: its refund is queued with the event.
        recorded = events.order_event_record_once(
            order=order,
            kind=OrderEventKind.PAYMENT_AFTER_CANCELLATION,
            detail=f"payment {result.status} after cancellation",
            transaction_id=result.transaction_id,
        )
        if recorded and result.status == "confirmed":
            refunds.order_refund_request(order=order, queue=True)
    if recorded:
        logger.info("order %s: payment %s after cancellation", order.number, result.status)
