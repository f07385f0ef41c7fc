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

import select

import psycopg
from django.db import connections

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
