"""Coalesced wake-ups: the charger's, and the webhook sender's (orders/webhooks/sender.py).

The order row is the outbox: POST /order publishes no message per order. It wakes the charger
(task_handles.CHARGE_WAITING_ORDERS), which charges every waiting order in batches. A short
Redis guard stands from the wake-up until the charger has run out of waiting orders, so under
load one message and one charger serve hundreds of orders, and on a quiet system an order is
still picked up within milliseconds. The webhook sender is woken the same way by the changes
that wrote delivery rows: wake_all(), hold() and release() are the mechanism, for any task and
guard key; the charger's three functions below name its own."""

import functools
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import transaction

from orders.task_handles import CHARGE_WAITING_ORDERS, TaskHandle

logger = logging.getLogger(__name__)

WAKE_UP_GUARD_KEY = "orders:charger-wake-up-pending"


@functools.cache
def _guard() -> redis.Redis:
    # The broker's Redis. Short timeouts: the guard is an optimisation, never worth a stall.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


@dataclass(frozen=True)
class WakeUp:
    """A task to make sure runs soon, the Redis key of its guard and the guard's length."""

    task: TaskHandle
    key: str
    guard_ms: int
    what: str  # what the task is, for the log


def wake_all(wake_ups: list[WakeUp]) -> None:
    """Make sure each task of `wake_ups` runs soon: publish it unless a wake-up (its guard key)
    is pending. The guards are set in one round trip to Redis: a new order wakes the charger and,
    with a webhook subscriber, the sender too.

    A guard expires after its guard_ms, so a wake-up whose message was lost (broker restart)
    delays the next one by that much at most; a re-drive sweep covers the work nobody woke the
    task for. Every publish is tried; the first error the broker raised is raised after, as a
    publish does."""
    try:
        with _guard().pipeline(transaction=False) as pipe:
            for wake_up in wake_ups:
                pipe.set(wake_up.key, 1, nx=True, px=wake_up.guard_ms)
            firsts = pipe.execute()
    except redis.RedisError:
        for wake_up in wake_ups:
            logger.warning(
                "wake-up guard unavailable; waking %s anyway", wake_up.what, exc_info=True
            )
        firsts = [True] * len(wake_ups)  # a spare wake-up costs one empty claim
    failure = None
    for wake_up, first in zip(wake_ups, firsts, strict=True):
        if not first:
            continue
        try:
            wake_up.task.enqueue()
        except Exception as exc:
            # Nothing was published: no wake-up is pending, so the next one (the re-drive's,
            # once the broker is back) must not be held back by this guard.
            release(key=wake_up.key)
            failure = failure or exc
    if failure is not None:
        raise failure


def wake_all_on_commit(wake_ups: list[WakeUp]) -> None:
    """wake_all(wake_ups) once the transaction commits. robust: with the broker down the change
    stands; the re-drive sweeps wake the tasks later."""

    def wake_them() -> None:  # a function, not a partial: Django logs a failure by its name
        wake_all(wake_ups)

    transaction.on_commit(wake_them, robust=True)


def hold(*, key: str, guard_ms: int) -> None:
    """Called by the running task each round: the guard stands for another `guard_ms`, so new
    work wakes no second task while this one keeps up. A task that stops (its worker died, a
    call hangs) stops holding it, and the next wake-up starts another."""
    try:
        _guard().set(key, 1, px=guard_ms)
    except redis.RedisError:
        logger.warning("could not hold the wake-up guard", exc_info=True)


def release(*, key: str) -> None:
    """Called by the task once it found nothing to do, before it looks one last time: from now
    on new work wakes another. Work committed before this saw the guard and woke nobody, and
    that last look takes it."""
    try:
        _guard().delete(key)
    except redis.RedisError:
        logger.warning("could not clear the wake-up guard", exc_info=True)


# --- The charger (orders/charging.py) ---------------------------------------------------------


def charger_wake_up() -> WakeUp:
    return WakeUp(
        CHARGE_WAITING_ORDERS,
        key=WAKE_UP_GUARD_KEY,
        guard_ms=settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS,
        what="the charger",
    )


def wake_charger() -> None:
    """Make sure a charger runs soon (guard: ORDERS_CHARGE_WAKE_UP_GUARD_MS)."""
    wake_all([charger_wake_up()])


def hold_wake_up() -> None:
    """Called by a running charger each round (see hold())."""
    hold(key=WAKE_UP_GUARD_KEY, guard_ms=settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS)


def release_wake_up() -> None:
    """Called by a charger that found nothing waiting (see release())."""
    release(key=WAKE_UP_GUARD_KEY)
