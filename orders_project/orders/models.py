from django.db import models
from django.db.models import Q
from django.utils import timezone

ORDER_NUMBER_LENGTH = 8
ORDER_NUMBER_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class OrderState(models.TextChoices):
    CREATED = "created"
    CONFIRMED = "confirmed"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The whole state machine: each state and the states an order may transition to from it.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderState.CREATED: frozenset({OrderState.CONFIRMED, OrderState.CANCELLED}),
    OrderState.CONFIRMED: frozenset({OrderState.DELIVERED, OrderState.CANCELLED}),
    OrderState.DELIVERED: frozenset(),
    OrderState.CANCELLED: frozenset(),
}


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in ALLOWED_TRANSITIONS[from_state]


def sources_of(to_state: str) -> list[str]:
    return [state for state, targets in ALLOWED_TRANSITIONS.items() if to_state in targets]


class Order(models.Model):
    number = models.CharField(max_length=ORDER_NUMBER_LENGTH, unique=True, editable=False)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=500)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    # A method Payments knows (ORDERS_PAYMENT_METHODS); sent with the order's payment. A default
    # in the database too: code of before this column (a rolling deploy) still inserts orders.
    payment_method = models.CharField(max_length=32, default="card", db_default="card")
    state = models.CharField(max_length=16, choices=OrderState.choices, default=OrderState.CREATED)
    # When the current state was entered: the delivery and re-drive sweeps select on it.
    state_changed_at = models.DateTimeField(default=timezone.now)
    # From when a charger may take the order (orders/charging.py): its creation, then the end of
    # each claim. A charger that takes it moves this ORDERS_PAYMENT_STUCK_AFTER_SECONDS ahead, so
    # a claim whose worker died expires and the order is charged again; the oldest go first, so
    # orders that Payments keeps refusing cannot starve the others.
    payment_requested_at = models.DateTimeField(
        "charge due from",
        default=timezone.now,
        help_text="When a charger may take the order: its creation, then the end of each claim "
        "(a confirmed or cancelled order keeps its last one).",
    )
    # Who holds the claim: the claiming worker's node name and run (orders/claims.py), so that
    # a worker's restart releases the claims of runs that are gone without waiting for the clock.
    # Empty: claimed outside a worker (tests), or never claimed.
    payment_claimed_by = models.CharField(
        "claimed by", max_length=255, blank=True, default="", db_default=""
    )
    # Compensation of a cancelled order that may have been charged. refund_requested_at: since
    # when a refund is due (NULL: none ever was). refund_queued_at: when its task was last
    # queued, the re-drive's clock; NULL once settled, so "still due" is "refund_queued_at IS NOT
    # NULL". refunded_at: when Payments confirmed the refund (stays NULL when it turned out that
    # nothing had been charged; the history says which).
    refund_requested_at = models.DateTimeField(null=True, blank=True)
    refund_queued_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # The number of the order's last change: 1 for its creation, one more for each transition
    # (in the transition's UPDATE) and each event. Each webhook carries its change's number, so
    # that a receiver can put one order's changes in order (docs/webhooks.md).
    sequence = models.PositiveIntegerField(default=1, db_default=1)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=OrderState.values), name="order_state_valid"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="order_price_not_negative"),
            models.CheckConstraint(
                condition=Q(refund_requested_at__isnull=True) | Q(state=OrderState.CANCELLED),
                name="order_refund_only_when_cancelled",
            ),
            models.CheckConstraint(
                condition=Q(refund_requested_at__isnull=False)
                | Q(refund_queued_at__isnull=True, refunded_at__isnull=True),
                name="order_refund_fields_need_a_request",
            ),
            models.CheckConstraint(
                condition=Q(refunded_at__isnull=True) | Q(refund_queued_at__isnull=True),
                name="order_refund_done_is_not_due",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "state_changed_at"], name="order_state_since_idx"),
            models.Index(
                fields=["payment_requested_at"],
                condition=Q(state=OrderState.CREATED),
                name="order_awaiting_payment_idx",
            ),
            models.Index(
                fields=["refund_queued_at"],
                condition=Q(refund_queued_at__isnull=False),
                name="order_awaiting_refund_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderStateChange(models.Model):
    """One row per change of state, written only by orders/transitions.py; facts that change no
    state are OrderEvents."""

    order = models.ForeignKey(Order, related_name="history", on_delete=models.CASCADE)
    # NULL on the first row: an order comes from no previous state.
    from_state = models.CharField(  # noqa: DJ001
        max_length=16, choices=OrderState.choices, null=True, blank=True
    )
    to_state = models.CharField(max_length=16, choices=OrderState.choices)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.from_state or '-'} -> {self.to_state}"


class OrderEventKind(models.TextChoices):
    # Payments decided after the customer had cancelled: the cancel stands (a confirmed charge
    # is refunded).
    PAYMENT_AFTER_CANCELLATION = "payment_after_cancellation"
    REFUNDED = "refunded"  # Payments gave a cancelled order's charge back
    REFUND_NOT_NEEDED = "refund_not_needed"  # Payments had nothing to give back
    NOTE = "note"  # a fact recorded before events had kinds (migration 0003)
    # An operator cancelled the order in the admin: who (actor) is a fact, not a state.
    CANCELLED_BY_OPERATOR = "cancelled_by_operator"
    # What reconciliation (orders/reconciliation.py) found Payments and Orders disagree about:
    # the charge was refunded at Payments, but the order is not cancelled;
    REFUNDED_NOT_CANCELLED = "refunded_not_cancelled"
    # Payments has another amount than the order's price;
    AMOUNT_DIFFERS = "amount_differs"
    # Payments' decision contradicts the order's state (declined, yet the order confirmed; a
    # charge standing for a cancelled order with no refund due).
    STATUS_DIFFERS = "status_differs"


# The kinds of event reconciliation writes: counted for /health/ready on a partial index.
MISMATCH_EVENT_KINDS = (
    OrderEventKind.REFUNDED_NOT_CANCELLED,
    OrderEventKind.AMOUNT_DIFFERS,
    OrderEventKind.STATUS_DIFFERS,
)
# The mismatch that has no order to record an event on: an UnknownOrderPayment.
UNKNOWN_ORDER = "unknown_order"


class OrderEvent(models.Model):
    """Something that happened to an order without changing its state, kept apart from
    OrderStateChange so that the state history stays the path of states. orders/events.py
    builds each kind."""

    order = models.ForeignKey(Order, related_name="events", on_delete=models.CASCADE)
    kind = models.CharField(max_length=32, choices=OrderEventKind.choices)
    detail = models.CharField(max_length=200)  # the human line; the facts are in `data`
    # The facts of the kind, structured (orders/events.py builds them): states, amounts, codes.
    # A default in the database too: code of before this column (a rolling deploy) still inserts.
    data = models.JSONField(
        default=dict, blank=True, db_default=models.Value({}, models.JSONField())
    )
    # Payments' transaction id, when the fact is about a charge or a refund.
    transaction_id = models.CharField(max_length=64, blank=True, default="")
    # Who or what caused it: "payments" for what Payments answered, the admin user's name for
    # an operator's cancel.
    actor = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrderEventKind.values), name="order_event_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["kind"],
                condition=Q(kind__in=MISMATCH_EVENT_KINDS),
                name="order_event_mismatch_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class IdempotencyKey(models.Model):
    """An Idempotency-Key sent with POST /order and the response it got. The same key and body
    again get that response again instead of a second order; kept for at least
    ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS, then deleted by a periodic task."""

    key = models.CharField(max_length=255)
    # SHA-256 of the validated body in canonical form: key order and spacing do not matter.
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, related_name="+", on_delete=models.CASCADE)
    # JSON text, not a JSONField: PostgreSQL's jsonb reorders keys, and a replay is byte-identical.
    response_body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return self.key


RECONCILIATION_CHECKPOINT = "payments"  # the one checkpoint's name


class ReconciliationCheckpoint(models.Model):
    """How far reconciliation has compared Payments' changes with Orders: one row, durable, so
    a restart neither starts over nor skips anything."""

    name = models.CharField(max_length=32, unique=True)
    # Payments' updatedAt of the last payment compared (its clock, not ours); the next run asks
    # for the changes since a little before it. NULL: nothing compared yet.
    checked_up_to = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # What the last run did: payments compared, decisions applied, mismatches newly reported.
    last_run_compared = models.PositiveIntegerField(default=0)
    last_run_applied = models.PositiveIntegerField(default=0)
    last_run_reported = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} up to {self.checked_up_to}"


class UnknownOrderPayment(models.Model):
    """A payment at Payments for an order number Orders has never had: no order to attach an
    event to, so it is kept here, once, for an operator to look into."""

    order_number = models.CharField(max_length=ORDER_NUMBER_LENGTH, unique=True)
    status = models.CharField(max_length=16)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    transaction_id = models.CharField(max_length=64)
    found_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.order_number} {self.status} (unknown order)"


# The webhooks' models live beside the code that uses them; imported here, Django registers them.
from orders.webhooks.models import (  # noqa: E402, F401
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
