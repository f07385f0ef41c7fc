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


def read_or_none(read, failure: str):
    """What `read()` answers, or None (and a warning `failure`) if it raised: a detail of the
    health answer is information, and a failure to read one never fails the answer."""
    try:
        return read()
    except Exception:
        logger.warning(failure, exc_info=True)
        return None


# Orders waiting past their deadline for Payments: informative, never a reason to fail. (A
# comment, not a docstring: drf-spectacular would put a docstring into the schema.)
class StuckSerializer(serializers.Serializer):
    help_text = "For information only; null when it could not be counted."

    awaitingPayment = serializers.IntegerField(min_value=0)
    awaitingRefund = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "HealthStuck"

    @staticmethod
    def measure() -> dict | None:
        counts = read_or_none(selectors.orders_stuck_count, "could not count the stuck orders")
        if counts is None:
            return None
        return {
            "awaitingPayment": counts["awaiting_payment"],
            "awaitingRefund": counts["awaiting_refund"],
        }


# What reconciliation (orders/reconciliation.py) found so far: information for an operator,
# never a reason to fail.
class ReconciliationSerializer(serializers.Serializer):
    help_text = "For information only; null when it could not be read."

    lastRunAt = serializers.DateTimeField(
        allow_null=True, help_text="When reconciliation last ran; null: never."
    )
    checkedUpTo = serializers.DateTimeField(
        allow_null=True,
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
    def measure() -> dict | None:
        summary = read_or_none(
            selectors.reconciliation_summary, "could not read the reconciliation summary"
        )
        if summary is None:
            return None
        return ReconciliationSerializer(
            {
                "lastRunAt": summary["last_run_at"],
                "checkedUpTo": summary["checked_up_to"],
                "mismatches": summary["mismatches"],
            }
        ).data
