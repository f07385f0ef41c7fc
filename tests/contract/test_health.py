"""/health/live and /health/ready, as probes call them, with and without the trailing slash.
A service's own checks and details (Orders' broker and stuck orders) stay in its tests."""

import pytest
from django.db import OperationalError, connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_health_live_answers_ok(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_health_ready_answers_ok_with_every_check_and_detail_it_has(client, settings, path):
    response = client.get(path)
    body = response.json()

    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"] == {name: True for name in settings.HEALTH_CHECKS}
    assert set(body) == {"status", "checks", *getattr(settings, "HEALTH_DETAILS", {})}


def test_health_ready_answers_503_with_retry_after_while_the_database_is_gone(client, monkeypatch):
    def refused():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refused)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False
    assert response["Retry-After"] == "1"
    assert client.get("/health/live").status_code == 200
