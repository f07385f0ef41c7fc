"""The coalesced wake-up of the charger.

The order row is the outbox: POST /order publishes no message per order. It wakes the charger
(task_handles.CHARGE_WAITING_ORDERS), which charges every waiting order in batches. A short
Redis guard stands from the wake-up until the charger has run out of waiting orders, so under
load one message and one charger serve hundreds of orders, and on a quiet system an order is
still picked up within milliseconds."""

import functools
import logging

import redis
from django.conf import settings

from orders.task_handles import CHARGE_WAITING_ORDERS

logger = logging.getLogger(__name__)

WAKE_UP_GUARD_KEY = "orders:charger-wake-up-pending"


@functools.cache
def _guard() -> redis.Redis:
    # The broker's Redis. Short timeouts: the guard is an optimisation, never worth a stall.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


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
            CHARGE_WAITING_ORDERS.enqueue()
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
