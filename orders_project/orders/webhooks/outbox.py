"""The write side of webhooks: which active subscriptions want a change, and the wake-up of the
sender once the change's transaction commits.

The delivery rows themselves are written by the change's own statements (orders/db.py), in its
transaction: a change that rolls back sends nothing, one that commits is never lost. The
active subscriptions are read at most every ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS per
process (and again after one is saved or deleted in this process), so that a change with no
subscriber costs one clock read; a new subscription hears of changes within that time."""

import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from orders import wake_up
from orders.task_handles import SEND_WEBHOOKS
from orders.webhooks.models import WebhookSubscription

SENDER_WAKE_UP_GUARD_KEY = "orders:webhook-sender-wake-up-pending"

# (read at, [(subscription id, its event types, empty: all)]); read at -inf: not read yet.
_active: dict = {"read_at": float("-inf"), "subscriptions": []}


def active_subscriptions() -> list[tuple[int, frozenset[str]]]:
    """The active subscriptions and the types each wants (empty: every type), cached."""
    now = time.monotonic()
    if now - _active["read_at"] >= settings.ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS:
        _active["subscriptions"] = [
            (subscription_id, frozenset(types or ()))
            for subscription_id, types in WebhookSubscription.objects.filter(
                active=True
            ).values_list("id", "event_types")
        ]
        _active["read_at"] = now
    return _active["subscriptions"]


@receiver(post_save, sender=WebhookSubscription)
@receiver(post_delete, sender=WebhookSubscription)
def forget_active_subscriptions(**kwargs) -> None:
    _active["read_at"] = float("-inf")


def subscribers(event_types) -> list[tuple[int, str]]:
    """(subscription id, event type) for each active subscription and each of `event_types`
    it wants: what orders/db.py's statements write a delivery row for."""
    active = active_subscriptions()
    if not active:
        return []
    return [
        (subscription_id, event_type)
        for event_type in event_types
        for subscription_id, wanted in active
        if not wanted or event_type in wanted
    ]


def sender_wake_up() -> wake_up.WakeUp:
    return wake_up.WakeUp(
        SEND_WEBHOOKS,
        key=SENDER_WAKE_UP_GUARD_KEY,
        guard_ms=settings.ORDERS_WEBHOOK_WAKE_UP_GUARD_MS,
        what="the webhook sender",
    )


def wake_sender() -> None:
    """Make sure the sender runs soon (orders/wake_up.py's coalesced wake-up)."""
    wake_up.wake_all([sender_wake_up()])


def wake_sender_on_commit() -> None:
    """Called where a change wrote delivery rows. robust: with the broker down the change
    stands; the re-drive sweep wakes the sender later."""
    transaction.on_commit(wake_sender, robust=True)
