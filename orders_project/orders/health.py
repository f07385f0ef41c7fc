"""Orders' own readiness check (its broker) and details (how many orders are stuck waiting for
Payments, what reconciliation found, as information), plugged into servicekit/health.py by
HEALTH_CHECKS and HEALTH_DETAILS."""

import logging

from rest_framework import serializers

from config.celery_app import app as celery_app
from orders import selectors
from orders.models import MISMATCH_EVENT_KINDS, UNKNOWN_ORDER

logger = logging.getLogger(__name__)


def broker_ok() -> bool:
    if celery_app.conf.task_always_eager:
        return True
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


# The base of each detail (a comment, not a docstring: drf-spectacular would put a docstring into
# the schema): its measure() is its fields' representation of what its read() answers, or None
# (and the warning `unreadable`) if reading raised: a detail of the health answer is
# information, and a failure to read one never fails the answer.
class DetailSerializer(serializers.Serializer):
    help_text = "For information only; null when it could not be read."
    unreadable = "could not read a detail of the health answer"

    @staticmethod
    def read() -> dict:
        raise NotImplementedError

    @classmethod
    def measure(cls) -> dict | None:
        try:
            read = cls.read()
        except Exception:
            logger.warning(cls.unreadable, exc_info=True)
            return None
        return cls(read).data


# Orders waiting past their deadline for Payments: informative, never a reason to fail.
class StuckSerializer(DetailSerializer):
    help_text = "For information only; null when it could not be counted."
    unreadable = "could not count the stuck orders"

    awaitingPayment = serializers.IntegerField(min_value=0, source="awaiting_payment")
    awaitingRefund = serializers.IntegerField(min_value=0, source="awaiting_refund")

    class Meta:
        ref_name = "HealthStuck"

    @staticmethod
    def read() -> dict:
        return selectors.orders_stuck_count()


# What reconciliation (orders/reconciliation.py) found so far: information for an operator,
# never a reason to fail.
class ReconciliationSerializer(DetailSerializer):
    unreadable = "could not read the reconciliation summary"

    lastRunAt = serializers.DateTimeField(
        allow_null=True,
        source="last_run_at",
        help_text="When reconciliation last ran; null: never.",
    )
    checkedUpTo = serializers.DateTimeField(
        allow_null=True,
        source="checked_up_to",
        help_text="Payments' updatedAt of the last payment compared (Payments' clock).",
    )
    mismatches = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        help_text="Every mismatch reported so far, by kind: "
        + ", ".join([*map(str, MISMATCH_EVENT_KINDS), UNKNOWN_ORDER])
        + " (each also an order event, or an unknown payment, and a log line).",
    )

    class Meta:
        ref_name = "HealthReconciliation"

    @staticmethod
    def read() -> dict:
        return selectors.reconciliation_summary()
