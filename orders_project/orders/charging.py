"""Charging in batches: claim the waiting orders, charge them with one call to Payments, apply
the results with one statement.

A waiting order is one in `created` whose payment_requested_at has passed: a new order, or one
whose last claim expired (its charger died, or its retries ran out). Claiming moves that clock
ORDERS_PAYMENT_STUCK_AFTER_SECONDS ahead, with SKIP LOCKED on PostgreSQL (SQLite: its single
writer), so several chargers split a backlog without overlap, and records which worker run
holds the claim: a worker's restart gives back the claims of runs that are gone
(orders/claims.py) instead of leaving them to the clock."""

import logging
import time
from datetime import timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from orders import claims, db, services, wake_up
from orders.clients import ChargeOutcome, OrderToCharge, payments_client
from orders.exceptions import PaymentsUnavailable
from orders.metrics import PAYMENT_REFUSALS
from orders.models import OrderState
from orders.task_handles import CHARGE_ORDERS
from servicekit.errors import DATABASE_ERRORS

logger = logging.getLogger(__name__)

# How long one charger task runs before it hands over to a fresh wake-up: well within the
# broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT_SECONDS, 300 s by default).
CHARGER_RUN_SECONDS = 20


def orders_charge_waiting(*, batch_size: int | None = None) -> int:
    """Charge the waiting orders, a batch at a time, until none is left; return how many got a
    decision.

    The wake-up guard stands while this runs (each round holds it), so orders committed
    meanwhile wake no other charger: the next round takes them, and under load the rounds'
    batches grow by themselves.
    Once a round finds nothing, the guard is released and one last look takes what came in
    before. A run hands over to a fresh wake-up after CHARGER_RUN_SECONDS, so no task outlives
    the broker's visibility timeout. A batch whose call gets no usable answer is handed to a
    retrying task, and this run stops: Payments is not answering; the guard then expires on its
    own, so at most one charger per ORDERS_CHARGE_WAKE_UP_GUARD_MS tries again meanwhile.

    A run that fails (the database went away) releases the guard, so that the next order wakes
    a charger, and raises for its task to be retried. A batch that Payments charged but whose
    results could not be applied is handed to the retrying task first, which claims it again by
    its order numbers, whatever its clock: it is not left claimed until its claim expires, and
    Payments answers the second call with what it stored."""
    try:
        return _charge_waiting(batch_size=batch_size or settings.ORDERS_PAYMENT_BATCH_SIZE)
    except Exception:
        wake_up.release_wake_up()
        raise


def _charge_waiting(*, batch_size: int) -> int:
    deadline = time.monotonic() + CHARGER_RUN_SECONDS
    decided = 0
    while True:
        batch = _orders_claim(limit=batch_size)
        if not batch:
            wake_up.release_wake_up()
            if not (batch := _orders_claim(limit=batch_size)):
                return decided
        wake_up.hold_wake_up()
        numbers = [order.order_number for order in batch]
        try:
            count, unavailable = _orders_charge(batch)
            decided += count
            if unavailable:
                # Payments answered, but could not decide these orders: only they are retried,
                # by the same task (and metric) as a batch that got no answer; the run goes on.
                _charge_again(order_numbers=unavailable, countdown=_first_retry_countdown())
        except PaymentsUnavailable as exc:
            logger.warning("charging %d orders failed, retrying: %s", len(batch), exc)
            _charge_again(order_numbers=numbers, countdown=_first_retry_countdown())
            return decided
        except DATABASE_ERRORS as exc:
            logger.warning("the results of %d charged orders were not applied: %s", len(batch), exc)
            _charge_again(order_numbers=numbers, countdown=_first_retry_countdown())
            raise
        if time.monotonic() > deadline:
            wake_up.release_wake_up()
            wake_up.wake_charger()
            return decided


def _charge_again(*, order_numbers: list[str], countdown: float) -> None:
    """Retry the charge of these orders (a batch whose call to Payments got no usable answer,
    or the orders of one that Payments could not decide now). The retrying task starts as retry
    1: the charger's call was the first try, so the bound (ORDERS_PAYMENT_MAX_RETRIES) and the
    retry metric count it."""
    CHARGE_ORDERS.enqueue(order_numbers, countdown=countdown, retries=1)


def _first_retry_countdown() -> float:
    return get_exponential_backoff_interval(
        factor=1,
        retries=0,
        maximum=settings.ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )


def orders_charge_again(*, order_numbers: list[str]) -> int:
    """Charge these orders again (a retry of a batch); those no longer `created` are skipped.
    Raises PaymentsUnavailable for the task to retry: no answer, or some orders that Payments
    could not decide yet (the decided ones are applied first, and skipped by the retry)."""
    batch = _orders_claim(limit=len(order_numbers), numbers=order_numbers)
    if not batch:
        return 0
    decided, unavailable = _orders_charge(batch)
    if unavailable:
        raise PaymentsUnavailable(f"Payments could not decide {len(unavailable)} orders yet")
    return decided


def _orders_charge(batch: list[OrderToCharge]) -> tuple[int, list[str]]:
    """Charge a batch and apply what Payments decided; return how many were decided and the
    order numbers whose answer was `unavailable` (to be sent again)."""
    decisions, unavailable = [], []
    for result in payments_client().charge_batch(batch):
        match result.outcome:
            case ChargeOutcome.UNAVAILABLE:
                unavailable.append(result.order_number)
                logger.warning(
                    "Payments could not decide order %s now: %s",
                    result.order_number,
                    result.message,
                )
            case ChargeOutcome.REFUSED:
                # Left claimed: charged again when the claim expires, in case an operator fixed it.
                PAYMENT_REFUSALS.labels(result.code).inc()
                logger.error(
                    "Payments refused order %s: %s (%s)",
                    result.order_number,
                    result.message,
                    result.code,
                )
            case _:
                decisions.append(result)
    services.orders_apply_payment_results(results=decisions)
    # The numbers, so that grepping an order number finds its batch.
    logger.info(
        "charged %d orders: %s",
        len(decisions),
        " ".join(f"{result.order_number}={result.outcome}" for result in decisions),
    )
    return len(decisions), unavailable


def _orders_claim(*, limit: int, numbers: list[str] | None = None) -> list[OrderToCharge]:
    """Take up to `limit` waiting orders, oldest payment_requested_at first (or these `numbers`,
    whatever their clock), move their clock to the end of the claim and record this worker's run
    as their claimant (orders/claims.py)."""
    now = timezone.now()
    claimed = db.orders_claim(
        state=OrderState.CREATED,
        claimed_until=now + timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS),
        claimant=claims.claimant(),
        limit=limit,
        due_by=now,
        numbers=numbers or (),
    )
    return [
        OrderToCharge(order.number, order.name, order.address, order.price, order.payment_method)
        for order in claimed
    ]
