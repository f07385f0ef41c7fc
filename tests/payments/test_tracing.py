"""An incoming W3C traceparent (sent by Orders' requests instrumentation) becomes the parent of
Payments' server span: both services' spans are one trace."""

import pytest
from common.tracing import in_memory_tracing
from opentelemetry.trace import SpanKind

from servicekit import tracing

pytestmark = pytest.mark.django_db

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter():
    with in_memory_tracing(celery=False) as (_, exporter):
        yield exporter


def test_tracing_incoming_traceparent_is_the_server_span_parent(
    exporter, auth_client, payload, confirm_always
):
    exporter.clear()

    response = auth_client.post(
        "/payment", payload, format="json", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01"
    )

    assert response.status_code == 201
    [server] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.context.trace_id == int(TRACE_ID, 16)
    assert server.parent.span_id == int(PARENT_ID, 16)
    assert server.parent.is_remote


def test_tracing_without_traceparent_starts_a_trace(exporter, api_client):
    exporter.clear()

    api_client.get("/payment/")

    [server] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.parent is None
    assert server.context.trace_id != int(TRACE_ID, 16)


def test_tracing_is_off_without_an_otlp_endpoint(monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup_tracing(default_service="payments") is False
