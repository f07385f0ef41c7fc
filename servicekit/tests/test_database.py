"""The database settings env_database builds: connections kept, and Django's own health check
(CONN_HEALTH_CHECKS) replacing a kept connection that the server closed."""

import pytest
from django.db import connection

from servicekit.env import env_database

pytestmark = pytest.mark.django_db(transaction=True)


def test_env_database_keeps_connections_and_checks_them(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_DATABASE_URL", "postgres://user@db.example:5432/things")

    config = env_database("SOME_DATABASE_URL", sqlite_path=tmp_path / "unused.sqlite3")

    assert config["ENGINE"] == "django.db.backends.postgresql"  # Django's own backend
    assert config["CONN_MAX_AGE"] == 600
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["OPTIONS"]["connect_timeout"] == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a server to close it")
def test_a_kept_connection_the_server_closed_is_replaced_at_the_next_request():
    kept = connection.copy()  # as a web or worker thread holds one between requests
    kept.ensure_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [kept.connection.info.backend_pid])

        # What Django does at the start of the next request (request_started).
        kept.health_check_done = False
        kept.close_if_health_check_failed()

        assert kept.connection is None
        with kept.cursor() as cursor:  # and the next query opens a new one
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        kept.close()
