"""GET /metrics read back with prometheus_client's own parser while orders move.

The suite runs in one process without PROMETHEUS_MULTIPROC_DIR, so the default registry answers
and counters keep what earlier tests added: every assertion is about a change (`scrape`, in
conftest.py). The charger's and the tasks' metrics are in test_metrics_payments.py."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from orders import selectors, services, sweeps
from orders.models import Order, OrderState

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_orders_in_state_follow_the_orders(scrape, make_order, api_client):
    before = scrape()
    order = make_order()
    created = scrape()
    assert created.change_since(before, "orders_in_state", state="created") == 1

    services.order_transition(order_number=order.number, to_state="confirmed", reason="test")
    confirmed = scrape()
    assert confirmed.change_since(before, "orders_in_state", state="created") == 0
    assert confirmed.change_since(before, "orders_in_state", state="confirmed") == 1

    api_client.put(f"/order/cancel/{order.number}")
    cancelled = scrape()
    assert cancelled.change_since(before, "orders_in_state", state="confirmed") == 0
    assert cancelled.change_since(before, "orders_in_state", state="cancelled") == 1
    assert cancelled.families["orders_in_state"].type == "gauge"


def test_metrics_orders_in_state_reports_every_state_even_without_orders(scrape):
    metrics = scrape()
    states = {s.labels["state"] for s in metrics.families["orders_in_state"].samples}
    assert states == set(OrderState.values)


def test_metrics_orders_stuck_counts_orders_past_their_deadline(scrape, make_order):
    _, stuck = make_order(), make_order()
    late = timezone.now() - timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS + 1)
    Order.objects.filter(pk=stuck.pk).update(state_changed_at=late)

    metrics = scrape()

    expected = selectors.orders_stuck_count()["awaiting_payment"]
    assert metrics("orders_stuck", waiting_for="payment") == expected >= 1
    assert metrics("orders_stuck", waiting_for="refund") == 0


def test_metrics_requests_are_counted_by_route_name_and_status_class(
    scrape, make_order, api_client
):
    order = make_order()
    labels = {"method": "GET", "route": "order-status"}
    before = scrape()

    api_client.get(f"/order/status/{order.number}")
    api_client.get(f"/order/status/{order.number}/")
    api_client.get("/order/status/nosuch00")

    after = scrape()
    assert after.change_since(before, "http_requests_total", **labels, status="2xx") == 2
    assert after.change_since(before, "http_requests_total", **labels, status="4xx") == 1
    assert (
        after.change_since(before, "http_request_duration_seconds_count", **labels, status="2xx")
        == 2
    )
    # The pattern's name, never the path: an order number is no label value.
    assert not [key for key in after.samples if order.number in str(key)]


def test_metrics_unknown_methods_and_paths_keep_labels_bounded(scrape, api_client):
    before = scrape()

    api_client.generic("BREW", "/coffee/pot-1")
    api_client.get("/no/such/path")

    after = scrape()
    labels = {"method": "other", "route": "unmatched", "status": "4xx"}
    assert after.change_since(before, "http_requests_total", **labels) == 1
    get = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert after.change_since(before, "http_requests_total", **get) == 1


def test_metrics_a_server_error_is_counted_as_5xx(scrape, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "order_list", broken)
    labels = {"method": "GET", "route": "order-collection", "status": "5xx"}
    before = scrape()

    response = APIClient(raise_request_exception=False).get("/order/")

    assert response.status_code == 500
    assert scrape()("http_requests_total", **labels) == before("http_requests_total", **labels) + 1


def test_metrics_delivery_lag_is_observed_by_the_sweep(scrape, make_order):
    order = make_order(state=OrderState.CONFIRMED)
    delay = timedelta(seconds=settings.ORDERS_DELIVERY_DELAY_SECONDS)
    confirmed_at = timezone.now() - delay - timedelta(seconds=40)
    Order.objects.filter(pk=order.pk).update(state_changed_at=confirmed_at)
    before = scrape()

    assert sweeps.orders_deliver_due() == 1

    after = scrape()
    count = after("orders_delivery_lag_seconds_count") - before("orders_delivery_lag_seconds_count")
    lag = after("orders_delivery_lag_seconds_sum") - before("orders_delivery_lag_seconds_sum")
    assert count == 1
    assert 40 <= lag < 60
    assert after.change_since(before, "orders_delivery_lag_seconds_bucket", le="30.0") == 0
    assert after.change_since(before, "orders_delivery_lag_seconds_bucket", le="60.0") == 1


def test_metrics_scrape_survives_a_database_error(scrape, monkeypatch):
    def broken():
        raise RuntimeError("database down")

    monkeypatch.setattr(selectors, "order_count_by_state", broken)

    metrics = scrape()

    assert "orders_in_state" not in metrics.families
    assert "http_requests" in metrics.families


MULTIPROCESS_SCRIPT = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from servicekit import metrics
if sys.argv[1] == "count":
    metrics.REQUESTS.labels("GET", "order-status", "2xx").inc(int(sys.argv[2]))
else:
    from prometheus_client import generate_latest
    sys.stdout.write(generate_latest(metrics.scrape_registry(collectors=False)).decode())
"""


def test_metrics_multiprocess_dir_adds_up_every_process(tmp_path):
    """What the web server's workers do: each process writes its own file, a scrape sums them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = [sys.executable, "-c", MULTIPROCESS_SCRIPT]
    cwd = ROOT / "orders_project"
    for count in ("3", "4"):
        subprocess.run([*run, "count", count], cwd=cwd, env=env, check=True, timeout=60)

    text = subprocess.run(
        [*run, "scrape"], cwd=cwd, env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout

    families = {f.name: f for f in text_string_to_metric_families(text)}
    [sample] = [s for s in families["http_requests"].samples if s.name == "http_requests_total"]
    assert sample.value == 7
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
