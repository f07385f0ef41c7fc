"""Tracing set up as servicekit.tracing does it, against an in-memory exporter: each service's
test_tracing.py builds its module-scoped fixture on this."""

import contextlib
from collections.abc import Iterator

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit import tracing


@contextlib.contextmanager
def in_memory_tracing(*, celery: bool) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Instrument Django (and Celery if asked) for the block; yields (provider, exporter)."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(provider, django=True, celery=celery)
    try:
        yield provider, exporter
    finally:
        tracing.uninstrument()
