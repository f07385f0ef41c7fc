"""Charging in batches: claim the waiting orders, charge them with one call to Payments, apply
the results with one statement.

A waiting order is one in `created` whose payment_requested_at has passed: a new order, or one
whose last claim expired (its charger died, or its retries ran out). Claiming moves that clock
ORDERS_PAYMENT_STUCK_AFTER_SECONDS ahead, with SKIP LOCKED on PostgreSQL (SQLite: its single
writer), so several chargers split a backlog without overlap, and records which worker run
holds the claim: a worker's restart gives back the claims of runs that are gone
(orders/claims.py) instead of leaving them to the clock."""

import functools
import logging
import time
from datetime import timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import connection
from django.utils import timezone

from orders import claims, dispatch, services
from orders.clients import OrderToCharge, PaymentDeferred, PaymentRefused, payments_client
from orders.exceptions import PaymentsUnavailable
from orders.metrics import PAYMENT_REFUSALS
from orders.models import Order, OrderState

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
    own, so at most one charger per ORDERS_CHARGE_WAKE_UP_GUARD_MS tries again meanwhile."""
    batch_size = batch_size or settings.ORDERS_PAYMENT_BATCH_SIZE
    deadline = time.monotonic() + CHARGER_RUN_SECONDS
    decided = 0
    while True:
        batch = _orders_claim(limit=batch_size)
        if not batch:
            dispatch.release_wake_up()
            if not (batch := _orders_claim(limit=batch_size)):
                return decided
        dispatch.hold_wake_up()
        try:
            count, deferred = _orders_charge(batch)
            decided += count
            if deferred:
                # Payments answered, but could not decide these orders: only they are retried,
                # by the same task (and metric) as a batch that got no answer; the run goes on.
                dispatch.charge_again(order_numbers=deferred, countdown=_first_retry_countdown())
        except PaymentsUnavailable as exc:
            logger.warning("charging %d orders failed, retrying: %s", len(batch), exc)
            dispatch.charge_again(
                order_numbers=[order.order_number for order in batch],
                countdown=_first_retry_countdown(),
            )
            return decided
        if time.monotonic() > deadline:
            dispatch.release_wake_up()
            dispatch.wake_charger()
            return decided


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
    decided, deferred = _orders_charge(batch)
    if deferred:
        raise PaymentsUnavailable(f"Payments could not decide {len(deferred)} orders yet")
    return decided


def _orders_charge(batch: list[OrderToCharge]) -> tuple[int, list[str]]:
    """Charge a batch and apply what Payments decided; return how many were decided and the
    order numbers Payments could not decide now (to be sent again)."""
    results = payments_client().charge_batch(batch)
    deferred = [result for result in results if isinstance(result, PaymentDeferred)]
    for result in deferred:
        logger.warning("Payments deferred order %s: %s", result.order_number, result.message)
    results = [result for result in results if not isinstance(result, PaymentDeferred)]
    refused = [result for result in results if isinstance(result, PaymentRefused)]
    for result in refused:
        # Left claimed: charged again when the claim expires, in case an operator fixed it.
        PAYMENT_REFUSALS.labels(result.code).inc()
        logger.error(
            "Payments refused order %s: %s (%s)", result.order_number, result.message, result.code
        )
    decisions = [result for result in results if not isinstance(result, PaymentRefused)]
    services.orders_apply_payment_results(results=decisions)
    # The numbers, so that grepping an order number finds its batch.
    logger.info(
        "charged %d orders: %s",
        len(decisions),
        " ".join(f"{result.order_number}={result.status}" for result in decisions),
    )
    return len(decisions), [result.order_number for result in deferred]


def _orders_claim(*, limit: int, numbers: list[str] | None = None) -> list[OrderToCharge]:
    """Take up to `limit` waiting orders, oldest payment_requested_at first (or these `numbers`,
        whatever their clock), move their clock to the end of the claim and record this worker's run
    as their claimant (orders/claims.py)."""
    now = timezone.now()
    claimed_until = now + timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)
    sql = _claim_sql(by_numbers=len(numbers or ()), skip_locked=connection.vendor == "postgresql")
    params = [claimed_until, claims.claimant(), OrderState.CREATED, *(numbers or [now]), limit]
    # raw(): the backend's converters turn each column into its field's Python value (SQLite
    # hands back a price as a float). RETURNING keeps no order: by id, the order of creation.
    claimed = sorted(Order.objects.raw(sql, params), key=lambda order: order.pk)
    return [
        OrderToCharge(order.number, order.name, order.address, order.price, order.payment_method)
        for order in claimed
    ]


@functools.cache
def _claim_sql(*, by_numbers: int, skip_locked: bool) -> str:
    """One statement: the UPDATE of the claimed orders' clock returns what the call needs; the
    waiting orders, or `by_numbers` given order numbers. Built from Order._meta; SKIP LOCKED on
    PostgreSQL, where other chargers claim at the same time."""
    meta, quote = Order._meta, connection.ops.quote_name
    col = {
        name: quote(meta.get_field(name).column)
        for name in (
            "number",
            "state",
            "name",
            "address",
            "price",
            "payment_method",
            "payment_requested_at",
            "payment_claimed_by",
        )
    }
    table, pk, clock = quote(meta.db_table), quote(meta.pk.column), col["payment_requested_at"]
    if by_numbers:
        which = f"{col['number']} IN ({', '.join(['%s'] * by_numbers)})"
    else:
        which = f"{clock} <= %s"
    lock = "FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return f"""
        UPDATE {table} SET {clock} = %s, {col["payment_claimed_by"]} = %s
        WHERE {pk} IN (
            SELECT {pk} FROM {table} WHERE {col["state"]} = %s AND {which}
            ORDER BY {clock} LIMIT %s {lock}
        )
        RETURNING {pk}, {col["number"]}, {col["name"]}, {col["address"]}, {col["price"]},
            {col["payment_method"]}
    """  # noqa: S608 (only names from _meta are formatted in)
