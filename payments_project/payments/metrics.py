"""The business metrics of Payments; the request metrics are config/metrics.py's."""

from prometheus_client import Counter

PAYMENTS = Counter(
    "payments_total",
    "Payments that reached a status: confirmed or declined when processed, refunded later.",
    ["status"],
)
