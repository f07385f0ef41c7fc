"""The contract both services keep: bad input, routes, health, metrics, the OpenAPI schema, the
price field, migrations, check --deploy and the WSGI application, checked the same way on each.
Collected in both the Orders and the Payments suite (tests/conftest.py says how) and run with
that suite's fixtures: `service` (common.service.Service: what a test needs to know of the
service), `make_one` (stores one row), and the clients of common/clients.py.

A package, so that its modules (contract.test_metrics) never clash with a suite's module of the
same name (test_metrics)."""
