"""The life of an order: creation, state transitions, the payment and its result."""

import logging
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction
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
        try:
            with transaction.atomic():
                order.save(force_insert=True)
                OrderStateChange.objects.create(
                    order=order,
                    from_state=None,
                    to_state=OrderState.CREATED,
                    reason="order created",
                    created_at=now,
                )
                # robust: with the broker down the order still stands (and the client gets its
                # 201); the re-drive sweep queues the payment later. A lambda, not a partial:
                # Django names the failed callback by its __qualname__.
                transaction.on_commit(
                    lambda number=order.number: request_payment.delay(number), robust=True
                )
            logger.info("order %s: created", order.number)
            return order
        except IntegrityError:
            # 36^8 numbers make a clash rare; the unique index catches it, a new draw fixes it.
            if not Order.objects.filter(number=order.number).exists():
                raise
            logger.warning("order number %s already taken, drawing another", order.number)
    raise RuntimeError(f"no free order number after {ORDER_NUMBER_ATTEMPTS} attempts")


def order_transition(*, order_number: str, to_state: str, reason: str) -> Order:
    return _order_transition(order_number=order_number, to_state=to_state, reason=reason)[0]


def _order_transition(*, order_number: str, to_state: str, reason: str) -> tuple[Order, str]:
    """Move an order to `to_state` by compare-and-set, and record the move in its history;
    return the moved order and the state it left.

    The UPDATE only matches while the order is still in the state we read; if another process
    moved it in between, we read again and re-check the move against the new state. States only
    move forward, so this loop ends after a few rounds at most.
    """
    for _ in range(len(OrderState)):
        current = Order.objects.filter(number=order_number).values_list("id", "state").first()
        if current is None:
            raise OrderNotFound()
        order_id, from_state = current
        if not can_transition(from_state, to_state):
            raise IllegalTransition(
                order_number=order_number, from_state=from_state, to_state=to_state
            )
        now = timezone.now()
        with transaction.atomic():
            moved = Order.objects.filter(id=order_id, state=from_state).update(
                state=to_state, state_changed_at=now, updated_at=now
            )
            if moved:
                logger.info("order %s: %s -> %s (%s)", order_number, from_state, to_state, reason)
                OrderStateChange.objects.create(
                    order_id=order_id,
                    from_state=from_state,
                    to_state=to_state,
                    reason=reason,
                    created_at=now,
                )
                return Order.objects.get(id=order_id), from_state
    raise IllegalTransition(order_number=order_number, from_state=from_state, to_state=to_state)


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
