"""Orders' own readiness check (its broker) and detail (how many orders are stuck waiting for
Payments, as information), plugged into servicekit/health.py by HEALTH_CHECKS and
HEALTH_DETAILS."""

import logging

from rest_framework import serializers

from config.celery_app import app as celery_app
from orders import selectors

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
        try:
            counts = selectors.orders_stuck_count()
        except Exception:
            logger.warning("could not count the stuck orders", exc_info=True)
            return None
        return {
            "awaitingPayment": counts["awaiting_payment"],
            "awaitingRefund": counts["awaiting_refund"],
        }
