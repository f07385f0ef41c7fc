"""Helpers both services' suites use; the tests both run are in tests/contract/. Each suite's
conftest.py supplies the `service` fixture (a common.service.Service) and takes the fixtures
that follow from it as plugins: clients.py (the API clients), logs.py (the JSON log events),
scrape.py (GET /metrics parsed). Also here: errors.py (the one error shape, raw bodies),
schema.py (the committed schema's fields), wsgi.py (a request as a WSGI server makes it),
fuzz.py, timestamps.py and tracing.py (an in-memory exporter)."""

import pytest

# Their asserts explain a failure as a test module's do (pytest rewrites test modules only).
pytest.register_assert_rewrite(
    "common.errors",
    "common.fuzz",
    "common.scrape",
    "common.wsgi",
)
