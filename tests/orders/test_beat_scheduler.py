"""Beat waits for the database before it reads its schedule (orders/beat_scheduler.py)."""

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django_celery_beat.models import PeriodicTask

from config.celery_app import app
from orders import beat_scheduler
from orders.beat_scheduler import DatabaseSchedulerThatWaits

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_runs_the_scheduler_that_waits():
    assert settings.CELERY_BEAT_SCHEDULER == "orders.beat_scheduler:DatabaseSchedulerThatWaits"


def test_a_database_that_comes_back_while_beat_starts_gets_the_schedule_installed(monkeypatch):
    PeriodicTask.objects.filter(name__startswith="orders.").delete()
    tries, sleeps = [], []
    real = connection.ensure_connection

    def ensure_connection():
        tries.append(1)
        if len(tries) <= 2:  # down for the first two tries, as during a restart
            raise OperationalError("connection refused")
        real()

    monkeypatch.setattr(connection, "ensure_connection", ensure_connection)
    monkeypatch.setattr("servicekit.connections.time.sleep", sleeps.append)

    DatabaseSchedulerThatWaits(app=app, lazy=True).setup_schedule()

    assert sleeps == [0.5, 1.0]
    assert PeriodicTask.objects.filter(name="orders.deliver-due-orders").exists()


def test_a_database_away_longer_than_the_wait_stops_beat_with_its_error(monkeypatch):
    def ensure_connection():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", ensure_connection)
    monkeypatch.setattr(beat_scheduler, "DATABASE_WAIT_SECONDS", 2)
    monkeypatch.setattr("servicekit.connections.time.sleep", lambda seconds: None)

    with pytest.raises(OperationalError):
        DatabaseSchedulerThatWaits(app=app, lazy=True).setup_schedule()
