"""The periodic sweeps: deliver what is due, re-drive what got stuck. Each runs in batches
and is safe with several workers running it at once."""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders import task_handles, transitions, wake_up
from orders.metrics import DELIVERY_LAG
from orders.models import Order, OrderState

# A new order wakes the charger at once; one still waiting this long after its clock passed
# was missed (its wake-up was lost with the broker, or Payments was down): the re-drive wakes
# the charger for it.
MISSED_AFTER = timedelta(seconds=2)

logger = logging.getLogger(__name__)


def orders_deliver_due(*, now=None, batch_size: int | None = None) -> int:
    """Deliver the orders confirmed at least ORDERS_DELIVERY_DELAY_SECONDS ago (a transition to
    `delivered`).

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
            changed = transitions.orders_transition_many(
                from_state=OrderState.CONFIRMED,
                transitions=[
                    transitions.Transition(order_id, OrderState.DELIVERED, "delivery time reached")
                    for order_id in ids
                ],
            )
            delivered_at = timezone.now()
            delivered += len(changed)
            logger.info("delivered %d orders", len(changed))
        for order_id, confirmed in confirmed_at.items():
            if order_id not in changed:
                continue
            # Never negative in a real sweep; a test's `now` may run ahead of the clock.
            DELIVERY_LAG.observe(max(0.0, (delivered_at - (confirmed + delay)).total_seconds()))


def orders_redrive_stuck_payments(*, now=None) -> int:
    """Wake the charger if orders have been waiting for one: their wake-up was lost (broker
    down or restarted), or their claim expired (the charger's worker died, or its retries ran
    out). The charger takes them, oldest clock first; return how many were waiting."""
    now = now or timezone.now()
    missed = Order.objects.filter(
        state=OrderState.CREATED, payment_requested_at__lte=now - MISSED_AFTER
    ).count()
    if missed:
        logger.warning("%d orders were waiting for a charger: waking it", missed)
        wake_up.wake_charger()
    return missed


def orders_redrive_stuck_refunds(*, now=None, batch_size: int | None = None) -> list[str]:
    """Queue the refund again for orders whose refund is still due long after it was last
    queued: its task was lost or gave up, or it is the check that a cancel from `created`
    left for later. Oldest first, and each pick restarts its clock (refund_queued_at), so an
    order is re-driven at most once per ORDERS_PAYMENT_STUCK_AFTER_SECONDS and every one gets
    its turn."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)
    due = Q(refund_queued_at__isnull=False)
    with transaction.atomic():
        numbers = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(due, refund_queued_at__lt=cutoff)
            .order_by("refund_queued_at")
            .values_list("number", flat=True)[: batch_size or settings.ORDERS_SWEEP_BATCH_SIZE]
        )
        Order.objects.filter(due, number__in=numbers).update(refund_queued_at=now)
        for number in numbers:
            transaction.on_commit(functools.partial(task_handles.REFUND_PAYMENT.enqueue, number))
    if numbers:
        logger.warning("re-queued the refund of %d orders", len(numbers))
    return numbers
