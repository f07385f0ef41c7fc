"""GET /metrics read back with prometheus_client's own parser while orders change state.

The suite runs in one process without PROMETHEUS_MULTIPROC_DIR, so the default registry answers
and counters keep what earlier tests added: every assertion is about a change (`scrape`, in
common/scrape.py), the charger's and its tasks' metrics too."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from helpers import MAX_CALLS, batch_echo, charge
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from orders import selectors, sweeps, transitions
from orders.models import Order, OrderState
from orders.tasks import charge_waiting_orders

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_orders_in_state_follow_the_orders(scrape, make_order, api_client):
    before = scrape()
    order = make_order()
    created = scrape()
    assert created.change_since(before, "orders_in_state", state="created") == 1

    transitions.order_transition(order_number=order.number, to_state="confirmed", reason="test")
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


# --- the charger's and its tasks' metrics ------------------------------------------------------


def test_metrics_payment_result_and_call_latency(scrape, make_order, http, batch_url):
    make_order(), make_order()
    http.add_callback("POST", batch_url, callback=batch_echo("declined"))
    call = {"operation": "payment_batch", "result": "2xx"}
    task = {"task": "orders.charge_waiting_orders", "outcome": "success"}
    before = scrape()

    charge()

    after = scrape()
    assert after.change_since(before, "orders_payment_results_total", status="declined") == 2
    assert after.change_since(before, "orders_payment_results_total", status="confirmed") == 0
    # One call for the batch, however many orders it carries.
    assert after.change_since(before, "orders_payments_call_duration_seconds_count", **call) == 1
    assert after.families["orders_payments_call_duration_seconds"].type == "histogram"
    assert after.change_since(before, "celery_tasks_total", **task) == 1


def test_metrics_payment_refusals_are_counted_by_code(scrape, make_order, http, batch_url):
    refused, confirmed = make_order(), make_order()
    http.add_callback(
        "POST", batch_url, callback=batch_echo(refuse={refused.number: "payment_conflict"})
    )
    before = scrape()

    charge()

    after = scrape()
    assert after.change_since(before, "orders_payment_refusals_total", code="payment_conflict") == 1
    assert after.change_since(before, "orders_payment_results_total", status="confirmed") == 1
    assert Order.objects.get(pk=confirmed.pk).state == OrderState.CONFIRMED


def test_metrics_payment_retries_and_failed_calls(scrape, make_order, http, batch_url):
    make_order()
    http.add("POST", batch_url, body=requests.exceptions.ConnectTimeout("slow"))
    http.add("POST", batch_url, status=503)
    http.add_callback("POST", batch_url, callback=batch_echo())
    before = scrape()

    charge()

    after = scrape()
    # The charger's call was the first try; the retrying task's two runs are retries 1 and 2.
    assert after.change_since(before, "orders_payments_retries_total", operation="payment") == 2
    for result in ("error", "5xx", "2xx"):
        labels = {"operation": "payment_batch", "result": result}
        assert (
            after.change_since(before, "orders_payments_call_duration_seconds_count", **labels) == 1
        )
    for name, outcome, added in [
        ("orders.charge_waiting_orders", "success", 1),  # it handed the batch over
        ("orders.charge_orders", "retry", 1),
        ("orders.charge_orders", "success", 1),
        ("orders.charge_orders", "failure", 0),
    ]:
        labels = {"task": name, "outcome": outcome}
        assert (
            after("celery_tasks_total", **labels) == before("celery_tasks_total", **labels) + added
        )


def test_metrics_celery_task_failure_is_counted(scrape, make_order, http, batch_url):
    make_order()
    # A refusal of the whole batch (not of one order in it) is not retried: the charger fails.
    http.add("POST", batch_url, json={"code": "refused", "message": "no"}, status=400)
    labels = {"task": "orders.charge_waiting_orders", "outcome": "failure"}
    before = scrape()

    assert charge_waiting_orders.delay().failed()

    assert scrape()("celery_tasks_total", **labels) == before("celery_tasks_total", **labels) + 1


def test_metrics_exhausted_retries_are_a_failure_of_the_retrying_task(
    scrape, make_order, http, batch_url
):
    make_order()
    http.add("POST", batch_url, status=503)
    failed = {"task": "orders.charge_orders", "outcome": "failure"}
    retries = {"operation": "payment"}
    before = scrape()

    charge()

    after = scrape()
    assert after.change_since(before, "celery_tasks_total", **failed) == 1
    assert (
        after("orders_payments_retries_total", **retries)
        == before("orders_payments_retries_total", **retries) + MAX_CALLS - 1
    )
