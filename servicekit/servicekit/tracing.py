"""OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ variant) is set;
then spans go to that collector over OTLP/HTTP.

Set up once per process, where the process starts serving: each service's config/wsgi.py for
the web (each web server worker imports it after the fork), the worker_process_init signal for
each Celery pool process. Instrumented: Django (server spans, W3C traceparent read from the
request), requests (client spans, traceparent sent to Payments), Celery (context carried in the
task's headers) and the database driver (psycopg, or sqlite3 on the embedded default).
"""

import os

# The SDK and the instrumentations are imported only when tracing is on.
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_instrumented: list = []
_providers: list = []


def tracing_enabled() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def service_name(default: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or default


def setup_tracing(*, default_service: str, django: bool = True, celery: bool = False) -> bool:
    """Export this process's spans over OTLP and instrument its libraries; once, and only when
    an endpoint is configured. Returns whether tracing is on."""
    if not tracing_enabled():
        return False
    if _instrumented:
        return True
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: service_name(default_service)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _providers.append(provider)
    instrument(provider, django=django, celery=celery)
    return True


def flush_tracing() -> None:
    """Send the spans still batched: for processes that end without atexit (Celery's pool)."""
    for provider in _providers:
        provider.force_flush()


def instrument(provider, *, django: bool, celery: bool) -> None:
    """Instrument the libraries against `provider` (the tests pass one with an in-memory
    exporter)."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    instrumentors = [RequestsInstrumentor(), PsycopgInstrumentor(), SQLite3Instrumentor()]
    if django:
        # Inserts its middleware first in settings.MIDDLEWARE: call before the WSGI handler loads.
        instrumentors.append(DjangoInstrumentor())
    if celery:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        instrumentors.append(CeleryInstrumentor())
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
        _instrumented.append(instrumentor)


def uninstrument() -> None:
    while _instrumented:
        _instrumented.pop().uninstrument()
