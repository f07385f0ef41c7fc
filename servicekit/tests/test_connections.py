"""The database settings env_database builds: connections kept, and a kept connection that the
server ended replaced before its next use, without a round trip per request
(servicekit/connections.py)."""

import select

import pytest
from django.core.signals import request_started
from django.db import OperationalError, connection

from servicekit.connections import close_connections_the_server_closed, wait_for_the_database
from servicekit.env import env_database

pytestmark = pytest.mark.django_db(transaction=True)
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs a server to close it"
)


def test_env_database_keeps_connections_without_a_query_per_request(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_DATABASE_URL", "postgres://user@db.example:5432/things")

    config = env_database("SOME_DATABASE_URL", sqlite_path=tmp_path / "unused.sqlite3")

    assert config["ENGINE"] == "django.db.backends.postgresql"  # Django's own backend
    assert config["CONN_MAX_AGE"] == 600
    # Django's check would send SELECT 1 before each request's first query.
    assert config["CONN_HEALTH_CHECKS"] is False
    assert config["OPTIONS"]["connect_timeout"] == 5


@pytest.fixture
def other():
    """A second connection, to end or notify the default one, which plays the connection a web
    or worker thread keeps between requests."""
    other = connection.copy()
    yield other
    other.close()


def wait_until_readable(kept, timeout: float = 5.0) -> None:
    """The server's message reaches the kept connection's socket a moment after it is sent."""
    readable, _, _ = select.select([kept.connection.pgconn.socket], [], [], timeout)
    assert readable, f"nothing arrived within {timeout} s"


@needs_postgresql
def test_a_kept_connection_the_server_ended_is_replaced_at_the_next_request(other):
    connection.ensure_connection()
    backend_pid = connection.connection.info.backend_pid
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    wait_until_readable(connection)

    request_started.send(sender=None)

    assert connection.connection is None
    with connection.cursor() as cursor:  # and the next query opens a new one
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != backend_pid


@needs_postgresql
def test_a_kept_connection_with_nothing_to_read_is_kept():
    connection.ensure_connection()
    alive = connection.connection

    request_started.send(sender=None)

    assert connection.connection is alive


@needs_postgresql
def test_a_kept_connection_with_an_unasked_message_waiting_is_replaced_a_known_cost(other):
    """Not a goal: a limit of the check, pinned so that a change of it is seen. The services never
    LISTEN; a rare notice or changed parameter costs one reconnection."""
    with connection.cursor() as cursor:
        cursor.execute("LISTEN servicekit_test")
    first = connection.connection
    with other.cursor() as cursor:
        cursor.execute("NOTIFY servicekit_test, 'unasked'")
    wait_until_readable(connection)

    close_connections_the_server_closed()

    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not first


class _Clock:
    """time.monotonic and time.sleep of a test: sleeping moves the clock."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _database_down_for(monkeypatch, failures: int) -> list[int]:
    """The next `failures` connection attempts fail as during a restart; returns the tries."""
    tries = []
    real = connection.ensure_connection

    def ensure_connection():
        tries.append(1)
        if len(tries) <= failures:
            raise OperationalError("connection refused")
        real()

    monkeypatch.setattr(connection, "ensure_connection", ensure_connection)
    return tries


def test_wait_for_the_database_returns_once_it_answers_with_backoff_between_tries(monkeypatch):
    clock = _Clock()
    tries = _database_down_for(monkeypatch, failures=5)

    wait_for_the_database(seconds=60, sleep=clock.sleep, clock=clock.monotonic)

    assert len(tries) > 5  # then it connected (connecting runs queries of its own)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0]  # doubling, capped at 5 s


def test_wait_for_the_database_gives_up_after_its_time_with_the_database_error(monkeypatch):
    clock = _Clock()
    _database_down_for(monkeypatch, failures=1000)

    with pytest.raises(OperationalError):
        wait_for_the_database(seconds=10, sleep=clock.sleep, clock=clock.monotonic)

    assert 7.5 <= clock.now <= 10  # it waited its time, and not past it
