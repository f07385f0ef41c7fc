import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class PaymentStatus(models.TextChoices):
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    # The one change after the decision: confirmed -> refunded, made by services.payment_refund().
    REFUNDED = "refunded"


class Payment(models.Model):
    # The order number is the idempotency key: one payment per order, whatever the retries.
    order_number = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=500)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    # The payment method (a name in PAYMENTS_METHODS) whose provider decided it.
    # A default in the database too: code of before this column (a rolling deploy) still inserts.
    method = models.CharField(max_length=32, default="card", db_default="card")
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    transaction_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            # A refund time exactly when refunded: no refunded payment without one, none before.
            models.CheckConstraint(
                condition=Q(status=PaymentStatus.REFUNDED, refunded_at__isnull=False)
                | (~Q(status=PaymentStatus.REFUNDED) & Q(refunded_at__isnull=True)),
                name="payment_refunded_at_iff_refunded",
            ),
        ]
        indexes = [
            # GET /payment/?updatedSince=: a range scan in the order it answers, id breaking ties.
            models.Index(fields=["updated_at", "id"], name="payment_updated_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} {self.status}"


class ProviderAttempt(models.Model):
    """How many times a method's provider was asked about an order: state of the test methods
    that must outlive a request and a worker process ("unavailable twice, then confirmed")."""

    method = models.CharField(max_length=32)
    order_number = models.CharField(max_length=8)
    attempts = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["method", "order_number"], name="provider_attempt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.order_number}: {self.attempts}"
