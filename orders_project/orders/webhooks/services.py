"""What the admin and the `webhooks` command do: subscribe, disable, enable, replay, send a
test message, prune."""

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from orders.webhooks import addresses, event_types, outbox, signing
from orders.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)


def subscription_validate(*, url: str, secret: str, types: list[str]) -> None:
    """Raise ValidationError naming the field: a URL we may not call (its form, or a host
    that resolves to a private address outside local runs), a secret not in whsec_ form, an
    unknown event type."""
    if refusal := addresses.address_refusal(url):
        raise ValidationError({"url": refusal})
    if not signing.secret_is_valid(secret):
        raise ValidationError({"secret": "use whsec_ and a base64 key of 24 to 64 bytes"})
    if unknown := sorted(set(types) - set(event_types.ALL)):
        raise ValidationError(
            {"event_types": f"unknown: {', '.join(unknown)}; known: {', '.join(event_types.ALL)}"}
        )


def subscription_add(
    *, url: str, types: list[str] = (), secret: str = "", description: str = ""
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` to `types` (none: all); return the subscription and its secret (drawn
    when none is given)."""
    secret = secret or signing.secret_generate()
    types = list(dict.fromkeys(types))
    subscription_validate(url=url, secret=secret, types=types)
    subscription = WebhookSubscription.objects.create(
        url=url, secret=secret, event_types=types, description=description
    )
    logger.info("webhook subscription %s added for %s", subscription.pk, url)
    return subscription, secret


def subscription_disable(subscription_id: int, *, reason: str) -> bool:
    """Disable the subscription, saying why (the admin shows it); its pending deliveries stay
    pending, sent if it is enabled again. False if it was not active."""
    changed = WebhookSubscription.objects.filter(pk=subscription_id, active=True).update(
        active=False, disabled_reason=reason[:300], disabled_at=timezone.now()
    )
    outbox.forget_active_subscriptions()
    if changed:
        logger.warning("webhook subscription %s disabled: %s", subscription_id, reason)
    return bool(changed)


def subscription_enable(subscription_id: int) -> bool:
    changed = WebhookSubscription.objects.filter(pk=subscription_id, active=False).update(
        active=True, disabled_reason="", disabled_at=None
    )
    outbox.forget_active_subscriptions()
    if changed:
        transaction.on_commit(outbox.wake_sender, robust=True)
    return bool(changed)


def deliveries_replay(
    deliveries, *, failed_only: bool = False, since: datetime | None = None
) -> int:
    """Send these deliveries (a queryset) again, each with its original id and body, from
    its first attempt; return how many. `failed_only`: only those given up; `since`: only
    those of changes made since then."""
    if failed_only:
        deliveries = deliveries.filter(status=DeliveryStatus.FAILED)
    if since is not None:
        deliveries = deliveries.filter(created_at__gte=since)
    count = deliveries.update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_by="",
        delivered_at=None,
    )
    if count:
        transaction.on_commit(outbox.wake_sender, robust=True)
    return count


def subscription_replay(
    subscription_id: int, *, failed_only: bool = False, since: datetime | None = None
) -> int:
    return deliveries_replay(
        WebhookDelivery.objects.filter(subscription_id=subscription_id),
        failed_only=failed_only,
        since=since,
    )


def test_message_send(subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a webhook.test message to `subscription`, whatever types it wants."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        message_id=f"msg_test_{secrets.token_hex(8)}",
        event_type=event_types.TEST,
        next_attempt_at=now,
        created_at=now,
    )
    transaction.on_commit(outbox.wake_sender, robust=True)
    return delivery


def deliveries_prune(*, now=None) -> int:
    """Delete the deliveries delivered more than ORDERS_WEBHOOK_RETENTION_DAYS ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ORDERS_WEBHOOK_RETENTION_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED, delivered_at__lt=cutoff
    ).delete()
    if deleted:
        logger.info("pruned %d delivered webhook deliveries", deleted)
    return deleted
