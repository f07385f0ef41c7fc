"""Orders' details in /health/ready: information for an operator, never a reason to fail."""

import logging

from rest_framework import serializers

from orders import selectors
from orders.models import MISMATCH_EVENT_KINDS, UNKNOWN_ORDER

logger = logging.getLogger(__name__)


class ReconciliationDetailSerializer(serializers.Serializer):
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


def reconciliation_detail() -> dict | None:
    """What reconciliation found, for /health/ready; None when it could not be read."""
    try:
        summary = selectors.reconciliation_summary()
    except Exception:
        logger.warning("could not read the reconciliation summary", exc_info=True)
        return None
    return ReconciliationDetailSerializer(
        {
            "lastRunAt": summary["last_run_at"],
            "checkedUpTo": summary["checked_up_to"],
            "mismatches": summary["mismatches"],
        }
    ).data
