"""GET /health/ready of Orders (orders/health.py): the broker among the checks, the stuck orders
and the last reconciliation in its details (tests/contract/test_health.py: what every service
answers)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_health_ready_checks_the_database_and_the_broker(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": True, "broker": True},
        "stuck": {"awaitingPayment": 0, "awaitingRefund": 0},
        "reconciliation": {
            "lastRunAt": None,
            "checkedUpTo": None,
            "mismatches": {
                "refunded_not_cancelled": 0,
                "amount_differs": 0,
                "status_differs": 0,
                "unknown_order": 0,
            },
        },
        "webhooks": {"pending": 0, "oldestPendingSeconds": 0.0},
    }


def test_health_ready_answers_503_when_the_broker_is_unreachable(client, celery_eager, monkeypatch):
    celery_eager.conf.task_always_eager = False
    # A port nobody listens on: the real connection attempt fails fast, whatever broker the
    # settings name (app.conf.broker_url cannot be changed once the app has read it).
    unreachable = celery_eager.connection_for_write(url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_eager, "connection_for_write", lambda: unreachable)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}
    assert response.json()["status"] == "unavailable"
