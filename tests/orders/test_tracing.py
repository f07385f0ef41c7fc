"""One trace from POST /order through the charger's task and its batch call to Payments to the
state update, with the instrumentation set up against an in-memory exporter."""

import re

import pytest
from broker import memory_broker, run_as_worker
from common.tracing import in_memory_tracing
from django.db import connection
from helpers import batch_echo
from opentelemetry.trace import SpanKind

from orders.models import Order, OrderState
from orders.tasks import charge_waiting_orders
from servicekit import tracing

# The state update must run on a connection opened after instrumenting: transactional tests,
# whose connection can be closed and opened again.
pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {"name": "Ada", "address": "1 Loop Road", "price": "12.50"}
# The state update of the batch's results: the ORM's UPDATE (SQLite), or the one-statement
# transition of orders/db.py (PostgreSQL). The claim's UPDATE sets another column.
STATE_UPDATE = re.compile(r'UPDATE "?orders_order"?( AS o)? SET "?state"?')


@pytest.fixture(scope="module")
def provider():
    with in_memory_tracing(celery=True) as provider_and_exporter:
        yield provider_and_exporter


@pytest.fixture
def spans(provider):
    """The finished spans of this test, by name."""
    _, exporter = provider
    exporter.clear()
    connection.close()  # the next query opens a connection through the instrumented driver
    yield exporter.get_finished_spans
    connection.close()


def statement(span) -> str:
    return span.attributes.get("db.statement") or span.attributes.get("db.query.text") or ""


def ancestors(span, finished) -> list[int]:
    """The span ids above `span`, nearest first."""
    by_id = {s.context.span_id: s for s in finished}
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span.context.span_id)
    return chain


def traceparent_ids(request) -> tuple[int, int]:
    version, trace_id, span_id, flags = request.headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1  # sampled
    return int(trace_id, 16), int(span_id, 16)


def test_tracing_post_order_links_task_payment_call_and_state_update(
    spans, api_client, http, batch_url
):
    """The charger is woken on commit inside the request, as in production, and runs eagerly."""
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))

    response = api_client.post("/order", ORDER, format="json")

    assert response.status_code == 201
    assert Order.objects.get(number=response.json()["orderNumber"]).state == OrderState.CONFIRMED
    finished = spans()
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    [task] = [s for s in finished if s.name == "run/orders.charge_waiting_orders"]
    [call] = [s for s in finished if s.kind == SpanKind.CLIENT and s.name.startswith("POST")]
    [update] = [s for s in finished if STATE_UPDATE.search(statement(s))]
    trace_id = server.context.trace_id
    assert traceparent_ids(http.calls[0].request) == (trace_id, call.context.span_id)
    assert {task.context.trace_id, call.context.trace_id, update.context.trace_id} == {trace_id}
    assert server.context.span_id in ancestors(task, finished)
    assert task.context.span_id in ancestors(call, finished)
    assert task.context.span_id in ancestors(update, finished)


def test_tracing_context_travels_in_the_task_headers(provider, spans, http, batch_url):
    """Published by the web, run by a worker: only the message's headers carry the trace."""
    tracer_provider, _ = provider
    # A waiting order, written without the wake-up that order_create would publish.
    order = Order.objects.create(number="trace001", name="Ada", address="1 Loop", price="12.50")
    http.add_callback("POST", batch_url, callback=batch_echo("declined"))

    with memory_broker() as publish:
        with tracer_provider.get_tracer("test").start_as_current_span("POST /order") as web:
            message = publish(charge_waiting_orders)
        run_as_worker(message)

    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    trace_id = web.get_span_context().trace_id
    assert message.headers["traceparent"].startswith(f"00-{trace_id:032x}-")
    finished = spans()
    [producer] = [s for s in finished if s.kind == SpanKind.PRODUCER]
    [task] = [s for s in finished if s.name == "run/orders.charge_waiting_orders"]
    [update] = [s for s in finished if STATE_UPDATE.search(statement(s))]
    assert ancestors(task, finished) == [producer.context.span_id, web.get_span_context().span_id]
    assert traceparent_ids(http.calls[0].request)[0] == trace_id
    assert task.context.span_id in ancestors(update, finished)


def test_tracing_is_off_without_an_otlp_endpoint(monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup_tracing(default_service="orders") is False


def test_tracing_service_name_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert tracing.service_name("orders-worker") == "orders-worker"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-eu")
    assert tracing.service_name("orders-worker") == "orders-eu"
