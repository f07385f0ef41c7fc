"""PostgreSQL's autovacuum, on for the length of a `make bench` or `make soak` run.

Every production PostgreSQL runs autovacuum. A CI machine may turn it off, so that nothing runs
behind its tests' backs: this one does, in /etc/postgresql/15/main/conf.d/90-ci.conf. Without
it every change of an order leaves a dead row that stays, and what reads the table slows down
minute by minute: a 30-minute soak at 348 orders/s found 1.05 million dead rows in orders_order
after 20 minutes, none vacuumed, its p99 up from 18 ms to 300-650 ms and requests shed from the
13th minute. A run is meant to measure the service, not that setting: if the server has
autovacuum off, it is turned on for the run (ALTER SYSTEM, then a reload) and the server's own
setting is put back afterwards; the report says which the run had."""

import contextlib
import time
from collections.abc import Callable, Iterator

import psycopg

AUTO_CONF = "postgresql.auto.conf"


def _setting(conn) -> tuple[str, str | None]:
    """(autovacuum's value, the file it comes from, None if not from a file)."""
    return conn.execute(
        "SELECT setting, sourcefile FROM pg_settings WHERE name = 'autovacuum'"
    ).fetchone()


@contextlib.contextmanager
def autovacuum_on(
    database_url: str, *, change_server: bool, log: Callable[[str], None]
) -> Iterator[str]:
    """Yield what the run has: "on", "on for this run (the server has it off)" or "off ...".
    `database_url`: any database of the server; `change_server` False leaves it as it is."""
    server = database_url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        value, source = _setting(conn)
    if value == "on":
        yield "on"
        return
    if not change_server:
        log("PostgreSQL's autovacuum is off and left so: dead rows pile up over a long run")
        yield "off (left as the server has it)"
        return
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET autovacuum = on")
            conn.execute("SELECT pg_reload_conf()")
            _wait_until(conn, "on")
    except psycopg.Error as exc:
        log(f"PostgreSQL's autovacuum is off and could not be turned on ({exc}); results sag")
        yield "off (could not be turned on)"
        return
    log(f"PostgreSQL's autovacuum is off ({source}): on for this run, as in production")
    try:
        yield "on for this run (the server has it off)"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            if source and source.endswith(AUTO_CONF):  # the server's own ALTER SYSTEM said off
                conn.execute("ALTER SYSTEM SET autovacuum = off")
            else:
                conn.execute("ALTER SYSTEM RESET autovacuum")
            conn.execute("SELECT pg_reload_conf()")
            _wait_until(conn, "off")


def _wait_until(conn, value: str, timeout: float = 10) -> None:
    """A reload is asynchronous: wait until this session sees `value`."""
    deadline = time.monotonic() + timeout
    while _setting(conn)[0] != value:
        if time.monotonic() > deadline:
            raise RuntimeError(f"autovacuum still not {value} {timeout:.0f} s after a reload")
        time.sleep(0.1)
