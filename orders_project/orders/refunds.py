"""Compensation: a cancelled order that was charged gets its payment back from Payments."""

import logging

from django.db import transaction
from django.utils import timezone

from orders import events, task_handles
from orders.clients import payments_client
from orders.exceptions import NothingToRefund
from orders.models import Order, OrderEventKind

logger = logging.getLogger(__name__)


def order_refund_request(*, order: Order, queue: bool) -> None:
    """Mark the refund of a cancelled order due (once). With `queue` (a charge is known to
    exist), queue it when the transaction commits, even if an earlier check found nothing to
    refund; a refund already made is never asked again. Call inside the caller's transaction."""
    now = timezone.now()
    this_order = Order.objects.filter(id=order.id)
    this_order.filter(refund_requested_at__isnull=True).update(
        refund_requested_at=now, refund_queued_at=now
    )
    if queue and this_order.filter(refunded_at__isnull=True).update(refund_queued_at=now):
        # robust: with the broker down the cancel still stands; the re-drive queues the refund.
        # A lambda, not a partial: Django names a failed callback by its __qualname__.
        transaction.on_commit(
            lambda number=order.number: task_handles.REFUND_PAYMENT.enqueue(number), robust=True
        )


def order_refund_payment(*, order_number: str) -> None:
    """Ask Payments to give a cancelled order's payment back and record the outcome once.

    Safe to run again: Payments answers a replay with the same refund, and only the run that
    finds the refund still due records it. "Nothing was charged" (404, 409) is an outcome too:
    recorded, not retried."""
    queued_at = (
        Order.objects.filter(number=order_number, refund_queued_at__isnull=False)
        .values_list("refund_queued_at", flat=True)
        .first()
    )
    if queued_at is None:
        return  # settled already, or no refund was ever due
    try:
        refund = payments_client().refund_payment(order_number=order_number)
    except NothingToRefund as exc:
        # Only if nobody queued the refund again meanwhile: a confirmation that arrived during
        # the call reopened it, and the charge it reports must still be refunded.
        _order_refund_settle(
            order_number=order_number,
            event=events.refund_not_needed(payments_code=exc.payments_code),
            queued_at=queued_at,
        )
        return
    _order_refund_settle(
        order_number=order_number, event=events.refunded(transaction_id=refund.transaction_id)
    )


def _order_refund_settle(*, order_number: str, event: events.NewOrderEvent, queued_at=None) -> None:
    """Close a due refund and record its event: a compare-and-set on "still due" (and, with
    `queued_at`, on "queued then"), so that of two runs of the task one records it."""
    due = Order.objects.filter(number=order_number, refund_queued_at__isnull=False)
    if queued_at is not None:
        due = due.filter(refund_queued_at=queued_at)
    now = timezone.now()
    with transaction.atomic():
        refunded = event.kind == OrderEventKind.REFUNDED
        settled = due.update(
            refund_queued_at=None, refunded_at=now if refunded else None, updated_at=now
        )
        if not settled:
            return
        order = Order.objects.get(number=order_number)
        events.record(order=order, event=event, created_at=now)
    logger.info("order %s: %s", order_number, event.detail)
