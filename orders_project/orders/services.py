"""The life of an order: creation, state transitions, the payment and its result."""

import logging
import secrets
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from orders import refunds
from orders.clients import payments_client
from orders.exceptions import IllegalTransition, OrderNotFound
from orders.metrics import PAYMENT_RESULTS
from orders.models import (
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    Order,
    OrderState,
    OrderStateChange,
    can_transition,
    sources_of,
)

logger = logging.getLogger(__name__)


ORDER_NUMBER_ATTEMPTS = 5


def order_number_generate() -> str:
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def order_create(*, name: str, address: str, price: Decimal) -> Order:
    """Write the order and its first history row, then queue its payment once committed."""
    from orders.tasks import request_payment  # tasks import services: import at call time

    for _ in range(ORDER_NUMBER_ATTEMPTS):
        now = timezone.now()
        order = Order(
            number=order_number_generate(),
            name=name,
            address=address,
            price=price,
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
        # the re-drive sweep queues the payment later. A lambda, not a partial: Django names
        # the failed callback by its __qualname__.
        transaction.on_commit(
            lambda number=order.number: request_payment.delay(number), robust=True
        )
        logger.info("order %s: created", order.number)
        return order
    raise RuntimeError(f"no free order number after {ORDER_NUMBER_ATTEMPTS} attempts")


# PostgreSQL writes a new order and its first history row in one statement. A statement is a
# transaction of its own, so this is one round trip where the ORM needs four (BEGIN, two
# INSERTs, COMMIT), and no INSERT for Django to compile: the largest costs of POST /order after
# the publish (docs/performance.md). A number already taken inserts nothing and returns no row.
_INSERT_ORDER_WITH_HISTORY = """
    WITH new_order AS (
        INSERT INTO orders_order (number, name, address, price, state, state_changed_at,
                                  payment_requested_at, created_at, updated_at)
        VALUES (%(number)s, %(name)s, %(address)s, %(price)s, %(state)s, %(now)s, %(now)s,
                %(now)s, %(now)s)
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
    return _order_transition(order_number=order_number, to_state=to_state, reason=reason)[0]


def _order_transition(*, order_number: str, to_state: str, reason: str) -> tuple[Order, str]:
    """Move an order to `to_state` by compare-and-set, and record the move in its history;
    return the moved order and the state it left.

    The first UPDATE assumes the state an order usually leaves for `to_state` (the first of its
    sources in ALLOWED_TRANSITIONS: `created` for a payment result, `confirmed` for delivery), so
    the common move needs no read before it. The UPDATE only matches while the order is in the
    state assumed; when it matches nothing, we read the state and, if the move is still legal
    from there, try again from it. States only move forward, so this ends after a few rounds.
    """
    sources = sources_of(to_state)
    from_state = sources[0] if sources else None
    for _ in range(len(OrderState) + 1):
        if from_state is not None:
            moved = _order_move(
                order_number=order_number, from_state=from_state, to_state=to_state, reason=reason
            )
            if moved is not None:
                logger.info("order %s: %s -> %s (%s)", order_number, from_state, to_state, reason)
                return moved, from_state
        from_state = (
            Order.objects.filter(number=order_number).values_list("state", flat=True).first()
        )
        if from_state is None:
            raise OrderNotFound()
        if not can_transition(from_state, to_state):
            raise IllegalTransition(
                order_number=order_number, from_state=from_state, to_state=to_state
            )
    raise IllegalTransition(order_number=order_number, from_state=from_state, to_state=to_state)


# The compare-and-set and its history row in one statement on PostgreSQL (atomic on its own, as
# above): the order's row is found by its unique number and locked, the UPDATE moves it only if
# it was in `from_state`, the history row is written only if it did, and the moved row comes
# back whole. One round trip where the ORM needs five (BEGIN, UPDATE, INSERT, COMMIT, and a
# SELECT to read the order back).
# Why the state is checked on the locked row rather than in the UPDATE's WHERE: with statistics
# taken while few orders were `created` (a quiet hour, then a burst or a Payments outage), the
# planner takes `WHERE number = … AND state = 'created'` for a one-row scan of the partial index
# of created orders (or of order_state_since_idx) and walks all of them, filtering on number:
# 3 ms with 30,000 waiting instead of 0.05 ms, growing with the backlog (docs/performance.md).
# Found by id, the row to update has one plan whatever the statistics: the primary key.
_MOVE_ORDER_WITH_HISTORY = """
    WITH current AS MATERIALIZED (
        SELECT id, state FROM orders_order WHERE number = %(number)s FOR UPDATE
    ), moved AS (
        UPDATE orders_order AS o SET state = %(to_state)s, state_changed_at = %(now)s,
                                     updated_at = %(now)s
        FROM current
        WHERE o.id = current.id AND current.state = %(from_state)s
        RETURNING o.*
    ), noted AS (
        INSERT INTO orders_orderstatechange (order_id, from_state, to_state, reason, created_at)
        SELECT id, %(from_state)s, %(to_state)s, %(reason)s, %(now)s FROM moved
    )
    SELECT * FROM moved
"""


def _order_move(*, order_number: str, from_state: str, to_state: str, reason: str) -> Order | None:
    """The compare-and-set from `from_state` to `to_state`, with its history row; the moved
    order, or None if the order was no longer in `from_state`."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        params = {
            "number": order_number,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "now": now,
        }
        moved = list(Order.objects.raw(_MOVE_ORDER_WITH_HISTORY, params))
        return moved[0] if moved else None
    with transaction.atomic():
        if not Order.objects.filter(number=order_number, state=from_state).update(
            state=to_state, state_changed_at=now, updated_at=now
        ):
            return None
        order = Order.objects.get(number=order_number)
        OrderStateChange.objects.create(
            order=order, from_state=from_state, to_state=to_state, reason=reason, created_at=now
        )
    return order


def order_cancel(*, order_number: str) -> Order:
    """Cancel for the customer, and in the same transaction make sure no charge stays behind.

    From `confirmed` the payment was taken: its refund is queued at once. From `created` a
    charge may exist that Orders never heard of (the payment call timed out, and its retry now
    sees the cancel and stops asking): a refund is marked due but not queued, so the re-drive
    sweep sends it after ORDERS_PAYMENT_STUCK_AFTER_SECONDS, once any call in flight has ended.
    Payments then refunds the charge, or answers that there is none (recorded, nothing more)."""
    with transaction.atomic():
        order, from_state = _order_transition(
            order_number=order_number,
            to_state=OrderState.CANCELLED,
            reason="cancelled by customer",
        )
        refunds.order_refund_request(order=order, queue=from_state == OrderState.CONFIRMED)
    order.refresh_from_db()
    return order


def order_request_payment(*, order_number: str) -> None:
    """Ask Payments to charge the order and apply the answer. Safe to run again: Payments is
    idempotent by order number, and an order that is no longer `created` is left alone."""
    order = Order.objects.filter(number=order_number).first()
    if order is None or order.state != OrderState.CREATED:
        return
    result = payments_client().create_payment(
        order_number=order.number, name=order.name, address=order.address, price=order.price
    )
    order_apply_payment_result(
        order_number=order_number,
        payment_status=result.status,
        transaction_id=result.transaction_id,
    )


PAYMENT_STATUS_TO_STATE = {
    "confirmed": OrderState.CONFIRMED,
    "declined": OrderState.CANCELLED,
    # Only a replay can answer this (the order was cancelled and refunded since): nothing is
    # charged, so the order cannot be confirmed; it is noted like any late result.
    "refunded": OrderState.CANCELLED,
}


def order_apply_payment_result(
    *, order_number: str, payment_status: str, transaction_id: str
) -> Order:
    to_state = PAYMENT_STATUS_TO_STATE[payment_status]
    PAYMENT_RESULTS.labels(payment_status).inc()
    reason = f"payment {payment_status} ({transaction_id})"
    try:
        return order_transition(order_number=order_number, to_state=to_state, reason=reason)
    except IllegalTransition as exc:
        # A decline that finds the order cancelled is a repeat only if it did the cancelling;
        # after a cancel by the customer it is a late result like a confirmation.
        applied = OrderStateChange.objects.filter(order__number=order_number, reason=reason)
        if exc.from_state != OrderState.CANCELLED or applied.exists():
            # The same result applied twice (a task delivered again): nothing more to do.
            return Order.objects.get(number=order_number)
        # The customer cancelled while the payment was in flight: the cancel stands, and the
        # late result is written down so that nobody has to guess what happened. A late
        # confirmation charged a cancelled order: its refund is queued with the note.
        with transaction.atomic():
            order, noted = _order_note(
                order_number=order_number,
                reason=f"payment {payment_status} after cancellation ({transaction_id})",
            )
            if noted and payment_status == "confirmed":
                refunds.order_refund_request(order=order, queue=True)
        return order


def _order_note(*, order_number: str, reason: str) -> tuple[Order, bool]:
    """Write a history row that changes no state, once; return the order and whether it wrote."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(number=order_number)
        if order.history.filter(reason=reason).exists():
            return order, False
        OrderStateChange.objects.create(
            order=order, from_state=order.state, to_state=order.state, reason=reason
        )
    return order, True
