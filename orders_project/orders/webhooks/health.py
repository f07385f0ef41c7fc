"""The webhooks' detail of GET /health/ready (HEALTH_DETAILS): information, never a reason to
answer 503."""

from rest_framework import serializers

from orders.health import read_or_none
from orders.webhooks import selectors


# A comment, not a docstring: drf-spectacular would put a docstring into the schema.
class WebhooksSerializer(serializers.Serializer):
    help_text = "For information only; null when it could not be read."

    pending = serializers.IntegerField(
        min_value=0, help_text="Deliveries to active subscriptions not yet delivered."
    )
    oldestPendingSeconds = serializers.FloatField(
        min_value=0, help_text="The age of the oldest of them; 0 when none."
    )

    class Meta:
        ref_name = "HealthWebhooks"

    @staticmethod
    def measure() -> dict | None:
        summary = read_or_none(
            selectors.deliveries_pending_summary, "could not read the webhook deliveries"
        )
        if summary is None:
            return None
        return {
            "pending": summary["pending"],
            "oldestPendingSeconds": round(summary["oldest_age_seconds"], 3),
        }
