"""Log records as one JSON object a line (LOG_FORMAT=json) or as text, each with its request id
and, when tracing is on, its trace and span ids. Used by settings.LOGGING.

The JSON formatter is python-json-logger's (pythonjsonlogger.json, its public module since 3.1),
with our field names; the filter that adds the ids is ours.
"""

import logging
from datetime import UTC, datetime

import pythonjsonlogger.json
from opentelemetry import trace

from servicekit.request_id import request_id

NO_REQUEST = "-"

_RENAMED = {
    "levelname": "level",
    "name": "logger",
    "exc_info": "exception",
    "stack_info": "stack",
}


class RequestIdFilter(logging.Filter):
    """On the handler, so that it sees the records of every logger (Django, Celery, ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or NO_REQUEST
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's formatter with our field names: ts (UTC, milliseconds), level,
    service, logger, message, request_id / trace_id / span_id when there are some, every
    `extra=` field, exception and stack. One line per event: a traceback's newlines are escaped.
    The `service` keyword stays, as settings.LOGGING and servicekit/webserver.py pass it."""

    def __init__(self, *args, service: str = "", **kwargs):
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", _RENAMED)
        if service:
            kwargs.setdefault("static_fields", {"service": service})
        super().__init__(*args, json_default=str, **kwargs)
        self.service = service

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        fields = {k: v for k, v in log_data.items() if not (k == "request_id" and v == NO_REQUEST)}
        log_data.clear()  # the time first, as a reader scans a log
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data.update(fields)
