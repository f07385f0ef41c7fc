"""The JSON events a service's console handler would write, as dicts: its formatter, with the
request-id filter, on the root logger for one test. A plugin of both suites (their conftest.py)."""

import io
import json
import logging

import pytest

from servicekit.logging import JsonFormatter, RequestIdFilter


@pytest.fixture
def log_events(service):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter(service=service.name))
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)
