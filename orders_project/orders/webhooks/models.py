"""A subscription (an endpoint and the event types it wants) and the outbox: one delivery row
per change of an order and matching active subscription, written in the transaction of the
change (orders/webhooks/outbox.py), sent and retried by orders/webhooks/sender.py."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookSubscription(models.Model):
    url = models.URLField("endpoint URL", max_length=500)
    # whsec_ and the key in base64, as the Standard Webhooks specification writes it: never
    # shown in a list or a log (the admin's list leaves it out; the form shows it on adding).
    secret = models.CharField(max_length=100)
    # The event types it wants (orders/webhooks/event_types.py); empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    # Why it was disabled (410 Gone, every retry failed, an operator): the admin shows it.
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # to be sent: at next_attempt_at, or in flight until then
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # given up: 410 Gone, or the whole retry schedule failed


def _change_link(model: str, *, indexed: bool) -> models.ForeignKey:
    """A delivery's optional link to what its change touched, without a foreign key constraint in
    the database (WebhookDelivery says why). Only the order's link is indexed and cascades: the
    history row or event of a change belongs to the same order, so deleting the order deletes
    its deliveries through that one index, and every row version of a delivery (it is written
    three times: inserted, claimed, answered) skips two more index entries."""
    return models.ForeignKey(
        model,
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.CASCADE if indexed else models.DO_NOTHING,
        db_constraint=False,
        db_index=indexed,
    )


class WebhookDelivery(models.Model):
    """One message to one subscription. Its id (message_id) is the change's, the same for every
    subscription and every retry or replay: receivers de-duplicate on it."""

    # Found by the unique constraint below, which starts with it: no index of its own.
    subscription = models.ForeignKey(
        WebhookSubscription, related_name="deliveries", on_delete=models.CASCADE, db_index=False
    )
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    # The change: an order's history row or event; neither for a test message. No foreign key
    # constraint in the database: the row is written by the change's own statement, right
    # beside what it points at, and PostgreSQL's check of three keys on every insert was a
    # measurable part of what a subscription costs the order path (docs/performance.md).
    order = _change_link("orders.Order", indexed=True)
    state_change = _change_link("orders.OrderStateChange", indexed=False)
    event = _change_link("orders.OrderEvent", indexed=False)
    # The order's sequence number at the change (Order.sequence), its state and updated_at then:
    # what the payload says of the order that the order row no longer does.
    sequence = models.PositiveIntegerField(default=0)
    order_state = models.CharField(max_length=16, blank=True, default="")
    order_updated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When it is due: the next retry, or the end of a sender's claim on it while in flight.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # The worker run that holds the claim (orders/claims.py), so its restart gives it back.
    claimed_by = models.CharField(max_length=255, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    # The first bytes of the last answer's body, or why there was none (a timeout, a refused URL).
    last_response = models.CharField(max_length=300, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
            # One message per change and subscription; also the index that keeps one order's
            # deliveries to one endpoint in sequence order (orders/webhooks/sender.py).
            models.UniqueConstraint(
                fields=["subscription", "order", "sequence"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="webhook_delivery_due_idx",
            ),
            models.Index(
                fields=["delivered_at"],
                condition=Q(status=DeliveryStatus.DELIVERED),
                name="webhook_delivery_pruned_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to #{self.subscription_id}"
