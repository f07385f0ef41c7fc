"""Reconciliation: Payments' changes since the last run compared with Orders' states.

A decision Orders never applied (its answer was lost after Payments decided: the worker died,
the response timed out) is applied through the usual path, at once rather than when the claim
expires and the order is charged again. Every other disagreement is reported, not repaired (it
needs a person): an order event, a log line, orders_reconciliation_mismatches_total{kind}, and
the counts in /health/ready. A payment for an order Orders never had is kept as an
UnknownOrderPayment, having no order to attach an event to.

Safe to run twice or at once: each report is written once (under the order's row lock, per kind
and transaction id), a decision takes an order through the compare-and-set once, and the
checkpoint only moves forward."""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders import events, services
from orders.clients import ChargeOutcome, ChargeResult, PaymentSnapshot, payments_client
from orders.metrics import RECONCILIATION_MISMATCHES
from orders.models import (
    RECONCILIATION_CHECKPOINT,
    UNKNOWN_ORDER,
    Order,
    OrderState,
    ReconciliationCheckpoint,
    UnknownOrderPayment,
)

logger = logging.getLogger(__name__)

CHECKPOINT = RECONCILIATION_CHECKPOINT
# Each run asks again for this much before the last payment it compared: Payments' processes
# stamp updated_at from their own clocks before they commit, so a row can appear later with a
# time a little before one already seen (a skewed clock, a slow commit, the same instant).
OVERLAP = timedelta(seconds=5)
# A run reads pages until it has caught up, or for at most this share of the time until the
# next run: a long backlog (the first run) is worked off over a few runs instead of one task
# that holds a worker thread for minutes, and runs do not overlap. A bound in pages instead (20
# of 500 every 30 s: 333 payments a second) fell behind for good under a sustained load above
# it: 317 s behind after a 30-minute soak at 348 orders a second (docs/performance.md, Soak).
RUN_SHARE_OF_INTERVAL = 0.5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The metric's kind for a decision reconciliation applied (the history row records it).
DECISION_NOT_APPLIED = "decision_not_applied"


@dataclass
class RunReport:
    compared: int = 0
    applied: int = 0  # decisions Orders never got, applied now
    reported: dict[str, int] = field(default_factory=dict)  # new mismatches, by kind

    def count(self, kind: str) -> None:
        self.reported[kind] = self.reported.get(kind, 0) + 1
        RECONCILIATION_MISMATCHES.labels(kind).inc()


def payments_reconcile(*, now: datetime | None = None, clock=time.monotonic) -> RunReport:
    """Compare the payments changed since the checkpoint (minus OVERLAP) with their orders, up to
    the payments changed ORDERS_RECONCILIATION_SETTLE_SECONDS ago; younger ones are the
    charger's, whose answer may be on its way. Raises PaymentsUnavailable if Payments does not
    answer; the pages compared so far stay compared."""
    now = now or timezone.now()
    stop_at = clock() + RUN_SHARE_OF_INTERVAL * settings.ORDERS_RECONCILIATION_SWEEP_SECONDS
    settled_before = now - timedelta(seconds=settings.ORDERS_RECONCILIATION_SETTLE_SECONDS)
    checkpoint, _ = ReconciliationCheckpoint.objects.get_or_create(name=CHECKPOINT)
    since = checkpoint.checked_up_to - OVERLAP if checkpoint.checked_up_to else EPOCH
    report, cursor = RunReport(), None
    while True:
        page = payments_client().payments_changed_since(since=since, cursor=cursor)
        settled = [p for p in page.payments if p.updated_at <= settled_before]
        _compare(settled, report)
        if settled:
            _checkpoint_advance(max(p.updated_at for p in settled))
        if len(settled) < len(page.payments) or page.cursor is None:
            break  # the rest is too young, or there is no rest
        if clock() >= stop_at:
            break  # the next run goes on from the checkpoint
        cursor = page.cursor
    ReconciliationCheckpoint.objects.filter(name=CHECKPOINT).update(
        last_run_at=now,
        last_run_compared=report.compared,
        last_run_applied=report.applied,
        last_run_reported=sum(report.reported.values()),
    )
    logger.info(
        "reconciliation: %d payments compared, %d decisions applied, %s",
        report.compared,
        report.applied,
        report.reported or "no mismatch",
    )
    return report


def _checkpoint_advance(up_to: datetime) -> None:
    """Forward only: a slower run that finishes after a faster one never moves it back."""
    ReconciliationCheckpoint.objects.filter(name=CHECKPOINT).filter(
        Q(checked_up_to__isnull=True) | Q(checked_up_to__lt=up_to)
    ).update(checked_up_to=up_to)


def _compare(payments: list[PaymentSnapshot], report: RunReport) -> None:
    report.compared += len(payments)
    orders = {
        order.number: order
        for order in Order.objects.filter(number__in={p.order_number for p in payments}).only(
            "id", "number", "state", "price", "refund_requested_at", "refund_queued_at"
        )
    }
    decisions = []
    for payment in payments:
        order = orders.get(payment.order_number)
        if order is None:
            _report_unknown_order(payment, report)
            continue
        if payment.amount != order.price:
            # Not this order's payment to apply either: Payments refuses the order's own
            # charge (payment_conflict), and the order waits for a person.
            mismatch = events.amount_differs(
                payments_amount=payment.amount,
                order_price=order.price,
                transaction_id=payment.transaction_id,
            )
            _report(order, mismatch, report)
        elif order.state == OrderState.CREATED:
            decisions.append(
                ChargeResult(
                    payment.order_number, ChargeOutcome(payment.status), payment.transaction_id
                )
            )
        elif mismatch := _state_mismatch(order, payment):
            _report(order, mismatch, report)
    if decisions:
        applied = services.orders_apply_payment_results(results=decisions)
        if applied:
            report.applied += len(applied)
            RECONCILIATION_MISMATCHES.labels(DECISION_NOT_APPLIED).inc(len(applied))
            logger.warning(
                "reconciliation: applied %d decisions Orders never got: %s",
                len(applied),
                ", ".join(sorted(applied)),
            )


def _state_mismatch(order: Order, payment: PaymentSnapshot) -> events.NewOrderEvent | None:
    """The disagreement between a decided order and its payment, if any, as the event to
    report.

    Only contradictions that no answer in flight explains: Orders takes an order to cancelled
    before it asks for the refund, and Payments never turns a decline into a charge, so a
    refunded charge of an order that is not cancelled, or a decline of a confirmed order, is
    one whatever the timing. A charge that stands for a cancelled order is one only when no
    refund was ever asked for: one that is due is on its way, one already made may be newer
    than what we read, and one Payments found nothing to give back for is what a method that
    charges nothing up front (cash on delivery) answers."""
    if payment.status == "refunded" and order.state != OrderState.CANCELLED:
        return events.refunded_not_cancelled(
            order_state=order.state, transaction_id=payment.transaction_id
        )
    if payment.status == "declined" and order.state != OrderState.CANCELLED:
        return events.status_differs(
            payment_status=payment.status,
            order_state=order.state,
            transaction_id=payment.transaction_id,
        )
    if (
        payment.status == "confirmed"
        and order.state == OrderState.CANCELLED
        and order.refund_requested_at is None
    ):
        return events.status_differs(
            payment_status=payment.status,
            order_state=order.state,
            transaction_id=payment.transaction_id,
        )
    return None


def _report(order: Order, mismatch: events.NewOrderEvent, report: RunReport) -> None:
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(id=order.id)
        recorded = events.record_once(order=locked, event=mismatch)
    if recorded:
        report.count(mismatch.kind)
        logger.warning(
            "reconciliation: order %s: %s: %s", order.number, mismatch.kind, mismatch.detail
        )


def _report_unknown_order(payment: PaymentSnapshot, report: RunReport) -> None:
    _, created = UnknownOrderPayment.objects.get_or_create(
        order_number=payment.order_number,
        defaults={
            "status": payment.status,
            "amount": payment.amount,
            "transaction_id": payment.transaction_id,
        },
    )
    if created:
        report.count(UNKNOWN_ORDER)
        logger.warning(
            "reconciliation: Payments has a %s payment of %s for order %s, unknown to Orders",
            payment.status,
            payment.amount,
            payment.order_number,
        )
