"""The business metrics of Payments; the request metrics are servicekit/metrics.py's."""

from prometheus_client import Counter

PAYMENTS = Counter(
    "payments_total",
    "Payments that reached a status: confirmed or declined when processed, refunded later.",
    ["status"],
)
PAYMENTS_UNAVAILABLE = Counter(
    "payments_unavailable_total",
    "Payments a method's provider could not decide (answered: retry later), by method.",
    ["method"],
)
