"""What is read about webhooks: the oldest pending delivery, for /metrics and /health/ready."""

from django.db.models import Count, Min
from django.utils import timezone

from orders.webhooks.models import DeliveryStatus, WebhookDelivery


def deliveries_pending_summary(*, now=None) -> dict:
    """How many deliveries to active subscriptions are pending, and the age in seconds of the
    oldest (0 when none)."""
    summary = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, subscription__active=True
    ).aggregate(pending=Count("id"), oldest=Min("created_at"))
    oldest = summary["oldest"]
    age = ((now or timezone.now()) - oldest).total_seconds() if oldest else 0.0
    return {"pending": summary["pending"], "oldest_age_seconds": max(0.0, age)}
