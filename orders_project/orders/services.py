import functools
import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.clients import payments_client
from orders.exceptions import IllegalTransition, OrderNotFound
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
                transaction.on_commit(functools.partial(request_payment.delay, order.number))
            logger.info("order %s: created", order.number)
            return order
        except IntegrityError:
            # 36^8 numbers make a clash rare; the unique index catches it, a new draw fixes it.
            if not Order.objects.filter(number=order.number).exists():
                raise
            logger.warning("order number %s already taken, drawing another", order.number)
    raise RuntimeError(f"no free order number after {ORDER_NUMBER_ATTEMPTS} attempts")


def order_transition(*, order_number: str, to_state: str, reason: str) -> Order:
    """Move an order to `to_state` by compare-and-set, and record the move in its history.

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
                return Order.objects.get(id=order_id)
    raise IllegalTransition(order_number=order_number, from_state=from_state, to_state=to_state)


def order_cancel(*, order_number: str) -> Order:
    return order_transition(
        order_number=order_number, to_state=OrderState.CANCELLED, reason="cancelled by customer"
    )


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


PAYMENT_STATUS_TO_STATE = {"confirmed": OrderState.CONFIRMED, "declined": OrderState.CANCELLED}


def order_apply_payment_result(
    *, order_number: str, payment_status: str, transaction_id: str
) -> Order:
    to_state = PAYMENT_STATUS_TO_STATE[payment_status]
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
        # late result is written down so that nobody has to guess what happened.
        return _order_note(
            order_number=order_number,
            reason=f"payment {payment_status} after cancellation ({transaction_id})",
        )


def _order_note(*, order_number: str, reason: str) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(number=order_number)
        if not order.history.filter(reason=reason).exists():
            OrderStateChange.objects.create(
                order=order, from_state=order.state, to_state=order.state, reason=reason
            )
    return order


def orders_deliver_due(*, now=None, batch_size: int | None = None) -> int:
    """Move orders confirmed at least ORDERS_DELIVERY_DELAY_SECONDS ago to `delivered`.

    Several workers may run this at once: each locks its batch with SKIP LOCKED (PostgreSQL) or
    holds the database's single write lock (SQLite, IMMEDIATE transactions), so an order is
    delivered, and gets its history row, exactly once."""
    now = now or timezone.now()
    batch_size = batch_size or settings.ORDERS_SWEEP_BATCH_SIZE
    due_before = now - timedelta(seconds=settings.ORDERS_DELIVERY_DELAY_SECONDS)
    delivered = 0
    while True:
        with transaction.atomic():
            ids = list(
                Order.objects.select_for_update(skip_locked=True)
                .filter(state=OrderState.CONFIRMED, state_changed_at__lte=due_before)
                .order_by("state_changed_at")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return delivered
            moved_at = timezone.now()
            Order.objects.filter(id__in=ids, state=OrderState.CONFIRMED).update(
                state=OrderState.DELIVERED, state_changed_at=moved_at, updated_at=moved_at
            )
            OrderStateChange.objects.bulk_create(
                OrderStateChange(
                    order_id=order_id,
                    from_state=OrderState.CONFIRMED,
                    to_state=OrderState.DELIVERED,
                    reason="delivery time reached",
                    created_at=moved_at,
                )
                for order_id in ids
            )
            delivered += len(ids)
            logger.info("delivered %d orders", len(ids))


def orders_redrive_stuck_payments(*, now=None, batch_size: int | None = None) -> list[str]:
    """Queue the payment again for orders still `created` long after it was last queued: their
    task was lost (process died before queueing, broker lost the message) or gave up.

    Each pick moves the order's payment_requested_at forward, so an order is re-driven at most
    once per ORDERS_PAYMENT_STUCK_AFTER_SECONDS and every stuck order gets its turn."""
    from orders.tasks import request_payment  # tasks import services: import at call time

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)
    with transaction.atomic():
        numbers = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(state=OrderState.CREATED, payment_requested_at__lt=cutoff)
            .order_by("payment_requested_at")
            .values_list("number", flat=True)[: batch_size or settings.ORDERS_SWEEP_BATCH_SIZE]
        )
        Order.objects.filter(number__in=numbers).update(payment_requested_at=now)
        for number in numbers:
            transaction.on_commit(functools.partial(request_payment.delay, number))
    if numbers:
        logger.warning("re-queued the payment of %d stuck orders", len(numbers))
    return numbers
