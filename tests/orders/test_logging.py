"""Request ids and JSON logs: from the request, through the task's headers, to Payments."""

import copy
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from broker import memory_broker, run_as_worker
from django.conf import settings
from helpers import batch_echo

from config import celery_signals
from orders.models import OrderState
from orders.tasks import charge_waiting_orders
from servicekit.logging import JsonFormatter, RequestIdFilter
from servicekit.request_id import request_id

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"name": "Ada", "address": "1 Loop Road", "price": "12.50"}
TRANSITIONED = (
    "1 of 1 orders transitioned from created"  # the charger applying its batch's one result
)


@pytest.mark.parametrize("sent", ["abc-123", "A.b_C-9", "x" * 64, "0f" * 16])
def test_request_id_middleware_echoes_a_valid_id(api_client, sent):
    response = api_client.get("/order/", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["", "x" * 65, "a b", "a\nb", "id;drop", "é", '"}{"level'])
def test_request_id_middleware_replaces_an_unsafe_id(api_client, sent):
    response = api_client.get("/order/", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] != sent
    assert len(response["X-Request-ID"]) == 32
    int(response["X-Request-ID"], 16)


def test_request_id_middleware_makes_one_for_every_response(api_client):
    first = api_client.get("/order/nosuch00")
    second = api_client.get("/metrics")
    assert first.status_code == 404
    assert len({first["X-Request-ID"], second["X-Request-ID"]}) == 2


def test_request_id_is_on_the_request_log_lines_and_gone_after(api_client, log_events):
    api_client.post("/order", ORDER, format="json", HTTP_X_REQUEST_ID="req-create-1")
    logging.getLogger("orders").info("after the request")

    events = log_events()
    created = [e for e in events if e["message"].endswith(": created")]
    assert [e["request_id"] for e in created] == ["req-create-1"]
    assert created[0]["service"] == "orders"
    assert created[0]["logger"] == "orders.services"
    assert "request_id" not in events[-1]
    assert request_id.get() is None


@pytest.mark.django_db(transaction=True)
def test_request_id_reaches_payments_and_the_task_logs(api_client, http, batch_url, log_events):
    """The charger is woken on commit, inside the request (as in production): Celery runs it
    eagerly there, and its batch call to Payments carries the id."""
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))

    response = api_client.post("/order", ORDER, format="json", HTTP_X_REQUEST_ID="req-story-1")

    assert response.status_code == 201
    [call] = http.calls
    assert call.request.url == batch_url
    assert call.request.headers["X-Request-ID"] == "req-story-1"
    transitioned = [e for e in log_events() if e["message"] == TRANSITIONED]
    assert [(e["request_id"], e["logger"]) for e in transitioned] == [
        ("req-story-1", "orders.transitions")
    ]


def test_request_id_travels_in_the_task_headers_to_the_worker(
    make_order, http, batch_url, log_events
):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_echo("declined"))
    with memory_broker() as publish:
        token = request_id.set("req-from-web")
        try:
            message = publish(charge_waiting_orders)
        finally:
            request_id.reset(token)
        assert message.headers["request_id"] == "req-from-web"

        run_as_worker(message)

    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert http.calls[0].request.headers["X-Request-ID"] == "req-from-web"
    transitioned = [e for e in log_events() if e["message"] == TRANSITIONED]
    assert [e["request_id"] for e in transitioned] == ["req-from-web"]
    assert request_id.get() is None


def test_request_id_of_a_task_without_one_is_its_task_id(make_order, http, batch_url):
    make_order()
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))
    with memory_broker() as publish:
        message = publish(charge_waiting_orders)
        assert "request_id" not in message.headers
        run_as_worker(message)

    assert http.calls[0].request.headers["X-Request-ID"] == message.headers["id"]


def test_json_formatter_writes_one_line_per_event_with_its_traceback():
    formatter = JsonFormatter(service="orders-worker")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "orders.x",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("twice",),
            sys.exc_info(),
            extra={"order_number": "ab12cd34"},
        )
    RequestIdFilter().filter(record)

    line = formatter.format(record)

    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "failed twice"
    assert event["level"] == "ERROR"
    assert event["service"] == "orders-worker"
    assert event["order_number"] == "ab12cd34"
    assert "ValueError: bad\nvalue" in event["exception"]
    assert "request_id" not in event


def test_logging_settings_put_the_request_id_filter_on_the_console_handler():
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["request_id"]
    assert handler["formatter"] == settings.LOG_FORMAT == "text"  # DJANGO_ENV=local in tests
    assert "%(request_id)s" in settings.LOGGING["formatters"]["text"]["format"]
    quiet = settings.LOGGING["loggers"]
    assert {"celery.app.trace", "celery.worker.strategy", "celery.beat"} <= set(quiet)


SETTINGS_SCRIPT = "from django.conf import settings; print(settings.LOG_FORMAT)"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DJANGO_ENV": "local"}, "text"),
        ({"DJANGO_ENV": "production"}, "json"),
        ({"DJANGO_ENV": "production", "LOG_FORMAT": "text"}, "text"),
        ({"DJANGO_ENV": "local", "LOG_FORMAT": "json"}, "json"),
    ],
)
def test_log_format_defaults_to_json_outside_local_runs(env, expected):
    secrets = {"ORDERS_SECRET_KEY": "s", "PAYMENTS_API_TOKEN": "t"}
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_SCRIPT],
        cwd=ROOT / "orders_project",
        env={**os.environ, **secrets, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == expected


def test_log_format_refuses_anything_else():
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_SCRIPT],
        cwd=ROOT / "orders_project",
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "LOG_FORMAT must be json or text" in done.stderr


def test_celery_worker_logs_through_the_settings_with_its_own_service(monkeypatch, settings):
    """Celery would install its own format; the worker keeps settings.LOGGING, named apart."""
    original = copy.deepcopy(settings.LOGGING)
    settings.LOGGING = copy.deepcopy(original)
    settings.LOGGING["handlers"]["console"]["formatter"] = "json"
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setitem(celery_signals._role, "service", celery_signals.BEAT_SERVICE)
    try:
        celery_signals.mark_worker()
        celery_signals.configure_logging()

        [console] = logging.getLogger().handlers
        assert isinstance(console.formatter, JsonFormatter)
        assert console.formatter.service == "orders-worker"
        assert any(isinstance(f, RequestIdFilter) for f in console.filters)
    finally:
        logging.config.dictConfig(original)
