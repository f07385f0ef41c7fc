"""The metrics of charging and of its tasks, read back from GET /metrics (`scrape`, in
conftest.py): counters keep what earlier tests added, so every assertion is about a change."""

import pytest
import requests
from helpers import MAX_CALLS, batch_echo, charge

from orders.models import Order, OrderState
from orders.tasks import charge_waiting_orders

pytestmark = pytest.mark.django_db


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
