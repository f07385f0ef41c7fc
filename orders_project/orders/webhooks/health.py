"""The webhooks' detail of GET /health/ready (HEALTH_DETAILS): information, never a reason to
answer 503."""

from rest_framework import serializers

from orders.health import DetailSerializer
from orders.webhooks import selectors


# A comment, not a docstring: drf-spectacular would put a docstring into the schema.
class WebhooksSerializer(DetailSerializer):
    unreadable = "could not read the webhook deliveries"

    pending = serializers.IntegerField(
        min_value=0, help_text="Deliveries to active subscriptions not yet delivered."
    )
    oldestPendingSeconds = serializers.FloatField(
        min_value=0,
        source="oldest_age_seconds",
        help_text="The age of the oldest of them; 0 when none.",
    )

    class Meta:
        ref_name = "HealthWebhooks"

    @staticmethod
    def read() -> dict:
        summary = selectors.deliveries_pending_summary()
        return {**summary, "oldest_age_seconds": round(summary["oldest_age_seconds"], 3)}
