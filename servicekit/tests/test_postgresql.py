"""The health check of a reused PostgreSQL connection (servicekit/postgresql/base.py): free when the
connection is idle and sound, and still catching a connection that the server closed."""

import time

import pytest
from django.db import connection
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend only"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def own_connection():
    """A connection of our own, as a web or worker thread holds one between requests."""
    other = connection.copy()
    other.ensure_connection()
    yield other
    other.close()


def test_an_idle_sound_connection_is_usable_without_a_query(own_connection, monkeypatch):
    def round_trip(self):
        raise AssertionError("SELECT 1 sent")

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", round_trip)
    assert own_connection.is_usable()


def test_a_connection_the_server_closed_is_not_usable(own_connection):
    pid = own_connection.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while own_connection.is_usable():  # the server's goodbye takes a moment to arrive
        assert time.monotonic() < deadline, "a terminated connection still looks usable"
        time.sleep(0.01)

    # What Django does at the start of the next request: the broken connection is replaced.
    own_connection.health_check_done = False
    own_connection.close_if_health_check_failed()
    assert own_connection.connection is None


def test_a_closed_connection_is_not_usable(own_connection):
    own_connection.connection.close()
    assert not own_connection.is_usable()
