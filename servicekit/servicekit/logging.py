"""Log records as one JSON object a line (LOG_FORMAT=json) or as text, each with its request id
and, when tracing is on, its trace and span ids. Used by settings.LOGGING.

A 30-line formatter rather than python-json-logger: the same few fields in both services, no
dependency whose module path moves between majors.
"""

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from servicekit.request_id import request_id

NO_REQUEST = "-"

# What every LogRecord carries; any other attribute came with `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_ADDED = ("request_id", "trace_id", "span_id")


class RequestIdFilter(logging.Filter):
    """On the handler, so that it sees the records of every logger (Django, Celery, ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or NO_REQUEST
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, *args, service: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service or None,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _ADDED:
            value = getattr(record, name, None)
            if value and value != NO_REQUEST:
                event[name] = value
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in _ADDED and name not in event:
                event[name] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines: a traceback stays on its event's one line.
        return json.dumps({k: v for k, v in event.items() if v is not None}, default=str)
