"""Django's PostgreSQL backend, with a health check that usually needs no round trip.

CONN_HEALTH_CHECKS makes Django check a reused connection before the first query of every
request (and of every task, config/celery_signals.py in Orders) with `SELECT 1`: a round trip
per request, 6 % of a POST's time alone and a quarter of it under load, where every wait for
the database is also a wait to get the GIL back (docs/performance.md).

A connection that the server closed (a restart, a failover, pg_terminate_backend, an idle
timeout) has the server's goodbye and an end of file waiting on its socket. An idle connection
in good health has nothing waiting. So: a poll of the socket, and the `SELECT 1` only when
something is waiting, which also reads a late notice harmlessly. What the poll cannot see — a
peer that vanished without closing, behind a dead network — `SELECT 1` would only see after the
TCP timeout; that query fails instead, is answered 503, and the connection is replaced.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        try:
            waiting, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):  # the socket is gone already
            return False
        return not waiting or super().is_usable()
