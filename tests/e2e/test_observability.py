"""Metrics and request ids across the real processes: two web server workers per service and the
Celery worker's pool write their samples to the service's PROMETHEUS_MULTIPROC_DIR (set by
tools/launcher/run_local.py), and one scrape of each /metrics adds them up."""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

ORDERS = 6


def scrape(base_url: str) -> dict:
    response = requests.get(f"{base_url}/metrics", timeout=5)
    assert response.status_code == 200
    totals: dict = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            totals[key] = totals.get(key, 0) + sample.value
    return totals


def total(samples: dict, name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def test_metrics_add_up_the_web_workers_and_the_celery_worker(stack):
    orders_before, payments_before = scrape(stack.orders_url), scrape(stack.payments_url)
    numbers = []
    for i in range(ORDERS):
        response = requests.post(
            f"{stack.orders_url}/order",
            json={"name": "Ada", "address": "1 Loop Road", "price": "3.00"},
            headers={"X-Request-ID": f"e2e-metrics-{i}"},
            timeout=5,
        )
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] == f"e2e-metrics-{i}"
        numbers.append(response.json()["orderNumber"])

    def grew(before, after, name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    def settled():
        after = scrape(stack.orders_url)
        results = grew(orders_before, after, "orders_payment_results_total")
        chargers = grew(
            orders_before,
            after,
            "celery_tasks_total",
            task="orders.charge_waiting_orders",
            outcome="success",
        )
        # Wake-ups coalesce: one charger may serve several orders, never fewer than one.
        return after if results == ORDERS and 1 <= chargers <= ORDERS else None

    orders_after = wait_for(settled)
    assert orders_after, "the worker's samples never reached Orders' /metrics"
    post = {"method": "POST", "route": "order-collection", "status": "2xx"}
    assert grew(orders_before, orders_after, "http_requests_total", **post) == ORDERS
    assert total(orders_after, "orders_in_state") >= ORDERS
    payments_after = scrape(stack.payments_url)
    assert grew(payments_before, payments_after, "payments_total") == ORDERS
    paid = {"method": "POST", "route": "payment-batch", "status": "2xx"}
    batches = grew(payments_before, payments_after, "http_requests_total", **paid)
    assert 1 <= batches <= ORDERS
