"""Test code both services run: each service's thin test module imports one of these modules
with `from common.<module> import *`, and its conftest.py supplies the `service` fixture (a
common.service.Service) and imports the clients that follow from it (common/clients.py). Helpers
both suites use live here too: scrape.py (GET /metrics parsed), contract.py (the committed
schema's fields), tracing.py (an in-memory exporter). Run in each service's own pytest process,
as every test of that service is."""

import pytest

# Their asserts explain a failure as a test module's do (pytest rewrites test modules only).
pytest.register_assert_rewrite(
    "common.abuse",
    "common.errors",
    "common.fuzz",
    "common.migrations",
    "common.openapi",
    "common.scrape",
    "common.wsgi",
)
