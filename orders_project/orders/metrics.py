"""The business metrics of Orders; the request metrics are servicekit/metrics.py's.

Counters and histograms are written where things happen (the worker, in multiprocess mode);
the order counts are read from the database when /metrics is scraped, by OrdersCollector.
"""

import logging

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from orders import selectors
from orders.models import OrderState

logger = logging.getLogger(__name__)

PAYMENT_RESULTS = Counter(
    "orders_payment_results_total",
    "Payment results from Payments applied to orders, by status (confirmed, declined, refunded).",
    ["status"],
)
PAYMENT_REFUSALS = Counter(
    "orders_payment_refusals_total",
    "Orders of a batch that Payments refused (another amount before, invalid data), by code.",
    ["code"],
)
PAYMENTS_CALL_SECONDS = Histogram(
    "orders_payments_call_duration_seconds",
    "Calls to Payments, by operation (payment_batch, refund, payments_changed) and result "
    "(2xx, 4xx, 5xx, error).",
    ["operation", "result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
PAYMENTS_RETRIES = Counter(
    "orders_payments_retries_total",
    "Payment and refund tasks run again because Payments gave no usable answer.",
    ["operation"],
)
RECONCILIATION_MISMATCHES = Counter(
    "orders_reconciliation_mismatches_total",
    "Disagreements reconciliation found between Payments and Orders, by kind: "
    "decision_not_applied (applied by it), refunded_not_cancelled, amount_differs, "
    "status_differs, unknown_order (reported).",
    ["kind"],
)
RATE_LIMIT = Counter(
    "orders_create_rate_limit_total",
    "POST /order that ORDERS_CREATE_RATE_LIMIT did not simply let through, by outcome: limited "
    "(answered 429, the client was over its limit), unchecked (taken without a check: Redis did "
    "not answer).",
    ["outcome"],
)
DELIVERY_LAG = Histogram(
    "orders_delivery_lag_seconds",
    "How long after its due time (confirmation + ORDERS_DELIVERY_DELAY_SECONDS) an order was "
    "delivered.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

WEBHOOK_DELIVERIES = Counter(
    "orders_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome: delivered (a 2xx), retrying (to be tried again), "
    "gave_up (the whole retry schedule failed), gone (410 Gone). Either of the last two "
    "disables the subscription.",
    ["outcome"],
)


class OrdersCollector:
    """Orders by state and orders stuck past their deadline, counted when /metrics is scraped:
    one GROUP BY and two counts, however many processes serve the web."""

    def collect(self):
        try:
            by_state = selectors.order_count_by_state()
            stuck = selectors.orders_stuck_count()
        except Exception:
            # No order gauges in this scrape rather than no metrics at all.
            logger.warning("could not count the orders for /metrics", exc_info=True)
            return
        states = GaugeMetricFamily("orders_in_state", "Orders in each state.", labels=["state"])
        for state in OrderState.values:
            states.add_metric([state], by_state.get(state, 0))
        yield states
        waiting = GaugeMetricFamily(
            "orders_stuck",
            "Orders waiting for Payments longer than ORDERS_PAYMENT_STUCK_AFTER_SECONDS.",
            labels=["waiting_for"],
        )
        waiting.add_metric(["payment"], stuck["awaiting_payment"])
        waiting.add_metric(["refund"], stuck["awaiting_refund"])
        yield waiting
        yield from self.webhooks()

    @staticmethod
    def webhooks():
        from orders.webhooks.selectors import deliveries_pending_summary

        try:
            summary = deliveries_pending_summary()
        except Exception:
            logger.warning("could not read the webhook deliveries for /metrics", exc_info=True)
            return
        yield GaugeMetricFamily(
            "orders_webhook_pending",
            "Webhook deliveries to active subscriptions not yet delivered.",
            value=summary["pending"],
        )
        yield GaugeMetricFamily(
            "orders_webhook_oldest_pending_age_seconds",
            "The age of the oldest webhook delivery not yet delivered (0: none).",
            value=summary["oldest_age_seconds"],
        )
