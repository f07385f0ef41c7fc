"""The periodic sweeps: deliver what is due, re-drive what got stuck. Each runs in batches
and is safe with several workers running it at once."""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders.metrics import DELIVERY_LAG
from orders.models import Order, OrderState, OrderStateChange

logger = logging.getLogger(__name__)


def orders_deliver_due(*, now=None, batch_size: int | None = None) -> int:
    """Move orders confirmed at least ORDERS_DELIVERY_DELAY_SECONDS ago to `delivered`.

    Several workers may run this at once: each locks its batch with SKIP LOCKED (PostgreSQL) or
    holds the database's single write lock (SQLite, IMMEDIATE transactions), so an order is
    delivered, and gets its history row, exactly once."""
    now = now or timezone.now()
    batch_size = batch_size or settings.ORDERS_SWEEP_BATCH_SIZE
    delay = timedelta(seconds=settings.ORDERS_DELIVERY_DELAY_SECONDS)
    due_before = now - delay
    delivered = 0
    while True:
        with transaction.atomic():
            confirmed_at = dict(
                Order.objects.select_for_update(skip_locked=True)
                .filter(state=OrderState.CONFIRMED, state_changed_at__lte=due_before)
                .order_by("state_changed_at")
                .values_list("id", "state_changed_at")[:batch_size]
            )
            ids = list(confirmed_at)
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
        for changed_at in confirmed_at.values():
            # Never negative in a real sweep; a test's `now` may run ahead of the clock.
            DELIVERY_LAG.observe(max(0.0, (moved_at - (changed_at + delay)).total_seconds()))


def orders_redrive_stuck_payments(*, now=None, batch_size: int | None = None) -> list[str]:
    """Queue the payment again for orders still `created` long after it was last queued: their
    task was lost (process died before queueing, broker lost the message) or gave up.

    Each pick moves the order's payment_requested_at forward, so an order is re-driven at most
    once per ORDERS_PAYMENT_STUCK_AFTER_SECONDS and every stuck order gets its turn."""
    from orders.tasks import request_payment  # tasks import services: import at call time

    numbers = _orders_redrive(
        waiting=Q(state=OrderState.CREATED),
        clock="payment_requested_at",
        task=request_payment,
        now=now,
        batch_size=batch_size,
    )
    if numbers:
        logger.warning("re-queued the payment of %d stuck orders", len(numbers))
    return numbers


def orders_redrive_stuck_refunds(*, now=None, batch_size: int | None = None) -> list[str]:
    """Queue the refund again for orders whose refund is still due long after it was last
    queued: its task was lost or gave up, or it is the check that a cancel from `created`
    deferred. Fair the same way as the payments: oldest first, and each pick restarts its clock."""
    from orders.tasks import refund_payment  # tasks import services: import at call time

    numbers = _orders_redrive(
        waiting=Q(refund_queued_at__isnull=False),
        clock="refund_queued_at",
        task=refund_payment,
        now=now,
        batch_size=batch_size,
    )
    if numbers:
        logger.warning("re-queued the refund of %d orders", len(numbers))
    return numbers


def _orders_redrive(*, waiting: Q, clock: str, task, now, batch_size: int | None) -> list[str]:
    """Queue `task` again for the orders `waiting` whose `clock` is older than
    ORDERS_PAYMENT_STUCK_AFTER_SECONDS, longest-waiting first, and restart their clock."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)
    with transaction.atomic():
        numbers = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(waiting, **{f"{clock}__lt": cutoff})
            .order_by(clock)
            .values_list("number", flat=True)[: batch_size or settings.ORDERS_SWEEP_BATCH_SIZE]
        )
        Order.objects.filter(waiting, number__in=numbers).update(**{clock: now})
        for number in numbers:
            transaction.on_commit(functools.partial(task.delay, number))
    return numbers
