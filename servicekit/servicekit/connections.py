"""Kept database connections that the server closed are dropped before they are used again.

Connections live CONN_MAX_AGE (env.py), one per thread of a web worker or Celery worker. When
PostgreSQL restarts or ends a backend, the kept connection is dead, and the next query on it
would fail. Django's own guard, CONN_HEALTH_CHECKS, costs a `SELECT 1` round trip before the
first query of every request: on POST /order that was the most expensive part after the insert
(docs/performance.md). This check asks the kernel instead: an idle connection has nothing to
read, and a server that ends one sends its last message and closes the socket, which makes it
readable. A readable idle connection is closed and replaced at its next use. The server sends
nothing else unasked to an idle connection of these services (they never LISTEN); a rare notice
or changed parameter costs one reconnection. A connection cut without a word from the server (a
dropped network path) is found by neither check before its next query, which then fails once,
as it would after Django's check.

Web: on request_started (servicekit/apps.py). Celery worker: around each task (Orders'
config/celery_signals.py). Celery beat has no such hook: after a server restart its next query
fails once (the tick is logged and skipped), and Django drops the connection for the next.
"""

import logging
import select
import time

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from servicekit.errors import DATABASE_ERRORS

logger = logging.getLogger(__name__)

_READY = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


def close_connections_the_server_closed(**kwargs) -> None:
    """Close this thread's kept PostgreSQL connections that the server has ended. A signal
    receiver (**kwargs), called with none too."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is not None and connection.vendor == "postgresql" and _server_ended(raw):
            connection.close()


def _server_ended(raw) -> bool:
    """Whether psycopg connection `raw`, idle between requests, has something to read: the
    goodbye of a server that ended it."""
    try:
        socket = raw.fileno()  # raises once libpq has dropped the connection
    except psycopg.OperationalError:
        return True
    if raw.broken:
        return True
    poller = select.poll()
    poller.register(socket, _READY)
    return bool(poller.poll(0))


def wait_for_the_database(
    *, seconds: float, sleep=None, clock=None, alias: str = DEFAULT_DB_ALIAS
) -> None:
    """Return once the database answers; try again with backoff (0.5 s doubling to 5 s) for up
    to `seconds`, then raise what the last try raised. For a process that cannot start without
    the database (Celery beat reads its schedule there), so that it starts late rather than
    failing during a restart or a failover and being counted a crash by its supervisor."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    deadline = clock() + seconds
    delay = 0.5
    while True:
        try:
            connections[alias].ensure_connection()
            return
        except DATABASE_ERRORS as exc:
            if clock() + delay > deadline:
                raise
            logger.warning("the database does not answer (%s); trying again in %.1f s", exc, delay)
            sleep(delay)
            delay = min(delay * 2, 5.0)
