"""Typed readers for settings that come from the environment: django-environ reads and parses,
these add what it leaves open: a bad value stops the service at start with the variable's name
(environ takes "maybe" for False and raises a bare ValueError on "lots"), numbers have bounds,
list items are trimmed, and secrets get a default only when DJANGO_ENV is "local".
"""

import os
import re
from typing import NamedTuple

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()
_TRUE = frozenset(value.lower() for value in environ.Env.BOOLEAN_TRUE_STRINGS)
_FALSE = frozenset({"0", "false", "no", "off", "n", ""})
# psycopg's own default: a statement is prepared on a connection once it ran this many times.
PREPARE_AFTER_EXECUTIONS = 5


def env_str(name: str, default: str) -> str:
    return _env.str(name, default=default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is not None and raw.strip().lower() not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")
    return _env.bool(name, default=default)


def env_number(
    name: str, default: float, *, kind: type = int, minimum: float = 0, maximum: float | None = None
) -> float:
    if name not in os.environ:
        return default
    raw = os.environ[name]
    try:
        value = _env.int(name) if kind is int else _env.float(name)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    if name not in os.environ:
        return default
    return [item.strip() for item in _env.list(name) if item.strip()]


class Rate(NamedTuple):
    """`quota` requests per `window_seconds`."""

    quota: int
    window_seconds: int


_RATE = re.compile(r"(\d+)\s*/\s*([sm])")
_WINDOW_SECONDS = {"s": 1, "m": 60}


def env_rate(name: str, default: str) -> Rate | None:
    """A rate such as "20/s" or "600/m" (requests per second or per minute); "0": no limit
    (None)."""
    raw = _env.str(name, default=default).strip().lower()
    if raw == "0":
        return None
    match = _RATE.fullmatch(raw)
    if not match or int(match[1]) < 1:
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 20/s or 600/m, or 0 for none, got {raw!r}"
        )
    return Rate(int(match[1]), _WINDOW_SECONDS[match[2]])


def env_secret(name: str, *, local_default: str, is_local: bool) -> str:
    value = _env.str(name, default="")
    if value:
        return value
    if is_local:
        return local_default
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV is not 'local'")


def env_database(name: str, *, sqlite_path: os.PathLike) -> dict:
    """A DATABASES entry from a URL; SQLite (the embedded default) tuned for several processes."""
    if not os.environ.get(name):
        config = environ.Env.db_url_config(f"sqlite:///{sqlite_path}")
    else:
        config = _env.db_url(name)
    # Connections are kept 10 minutes. One the server closed is dropped before the next request
    # or task uses it (servicekit/connections.py), by a look at its socket rather than Django's
    # CONN_HEALTH_CHECKS, which costs a SELECT 1 round trip per request.
    config["CONN_MAX_AGE"] = 600
    config["CONN_HEALTH_CHECKS"] = False
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web workers, the Celery worker and beat share one file: WAL lets readers run beside
        # the writer, IMMEDIATE takes the write lock at BEGIN so two writers queue on the busy
        # timeout instead of failing with "database is locked" half-way through a transaction.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # A file, not :memory:, so tests that use several threads see one database.
        db_file = os.fspath(config["NAME"])
        os.makedirs(os.path.dirname(db_file) or ".", exist_ok=True)
        config["TEST"] = {"NAME": db_file.removesuffix(".sqlite3") + ".test.sqlite3"}
    else:
        options = config.setdefault("OPTIONS", {})
        options["connect_timeout"] = 5
        # Parameters bound by the server, and a statement run five times on a connection
        # prepared there: the hot ones (an order's insert, a batch's transitions) skip parsing and
        # planning, and cost the client less to send (docs/performance.md). Off behind a pooler
        # that cannot route prepared statements (PgBouncer in transaction mode before 1.21,
        # docs/scaling.md). Django leaves psycopg's preparing off unless asked.
        prepared = env_bool("DATABASE_PREPARED_STATEMENTS", True)
        options["server_side_binding"] = prepared
        options["prepare_threshold"] = PREPARE_AFTER_EXECUTIONS if prepared else None
    return config
