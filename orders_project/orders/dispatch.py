"""Queues work by task name, so that services never import tasks (tasks import services), and
the coalesced wake-up of the charger.

The order row is the outbox: POST /order publishes no message per order. It wakes the charger
(task orders.charge_waiting_orders), which charges every waiting order in batches. A short Redis
guard stands from the wake-up until the charger has run out of waiting orders, so under load one
message and one charger serve hundreds of orders, and on a quiet system an order is still picked
up within milliseconds."""

import functools
import logging

import redis
from django.conf import settings

from config.celery_app import app

logger = logging.getLogger(__name__)

CHARGE_WAITING_ORDERS = "orders.charge_waiting_orders"
CHARGE_ORDERS = "orders.charge_orders"
REFUND_PAYMENT = "orders.refund_payment"
RELEASE_GONE_CLAIMS = "orders.release_claims_of_gone_workers"
WAKE_UP_GUARD_KEY = "orders:charger-wake-up-pending"


@functools.cache
def _guard() -> redis.Redis:
    # The broker's Redis. Short timeouts: the guard is an optimisation, never worth a stall.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


def _queue(task_name: str, *args, **options) -> None:
    # Through the registered task, not app.send_task(): tests run tasks eagerly, which
    # send_task ignores.
    app.tasks[task_name].apply_async(args=args, **options)


def wake_charger() -> None:
    """Make sure a charger runs soon: publish its task unless a wake-up is already pending.

    The guard expires after ORDERS_CHARGE_WAKE_UP_GUARD_MS, so a wake-up whose message was
    lost (broker restart) delays the next one by that much at most; the re-drive sweep covers
    an order nobody woke up for. Raises what the broker raises, as a publish does."""
    try:
        first = _guard().set(
            WAKE_UP_GUARD_KEY, 1, nx=True, px=settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS
        )
    except redis.RedisError:
        logger.warning("wake-up guard unavailable; waking the charger anyway", exc_info=True)
        first = True  # a spare wake-up costs one empty claim
    if first:
        try:
            _queue(CHARGE_WAITING_ORDERS)
        except Exception:
            # Nothing was published: no wake-up is pending, so the next one (the re-drive's,
            # once the broker is back) must not be held back by this guard.
            release_wake_up()
            raise


def hold_wake_up() -> None:
    """Called by a running charger each round: the guard stands for another
    ORDERS_CHARGE_WAKE_UP_GUARD_MS, so new orders wake no second charger while this one keeps
    up. A charger that stops (its worker died, a call hangs) stops holding it, and the next
    order wakes another."""
    try:
        _guard().set(WAKE_UP_GUARD_KEY, 1, px=settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS)
    except redis.RedisError:
        logger.warning("could not hold the wake-up guard", exc_info=True)


def release_wake_up() -> None:
    """Called by a charger that found nothing waiting, before it looks one last time: from now
    on a new order wakes another charger. An order committed before this saw the guard and woke
    nobody, and that last look takes it."""
    try:
        _guard().delete(WAKE_UP_GUARD_KEY)
    except redis.RedisError:
        logger.warning("could not clear the wake-up guard", exc_info=True)


def charge_again(*, order_numbers: list[str], countdown: float) -> None:
    """Retry the charge of a batch whose call to Payments got no usable answer. The retrying
    task starts as retry 1: the charger's call was the first try, so the bound
    (ORDERS_PAYMENT_MAX_RETRIES) and the retry metric count it."""
    _queue(CHARGE_ORDERS, order_numbers, countdown=countdown, retries=1)


def refund(*, order_number: str) -> None:
    _queue(REFUND_PAYMENT, order_number)


def release_claims_of_gone_workers(*, ready: str) -> None:
    """A worker run is up (orders/claims.py): give back the claims of the runs that are gone.
    On the sweeps' queue, which workers serve first, so it is not stuck behind a backlog."""
    _queue(RELEASE_GONE_CLAIMS, ready, queue=settings.SWEEPS_QUEUE)


def live_workers(*, timeout: float) -> set[str]:
    """The node names of the workers that answer a ping over the broker within `timeout`."""
    return {node for reply in app.control.ping(timeout=timeout) for node in reply}
