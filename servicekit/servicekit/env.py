"""Typed readers for settings that come from the environment.

Every setting has a safe local default; secrets get one only when DJANGO_ENV is "local".
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_number(
    name: str, default: float, *, kind: type = int, minimum: float = 0, maximum: float | None = None
) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, *, local_default: str, is_local: bool) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if is_local:
        return local_default
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV is not 'local'")


def env_database(name: str, *, sqlite_path: os.PathLike) -> dict:
    """A DATABASES entry from a URL; SQLite (the embedded default) tuned for several processes."""
    import dj_database_url

    url = os.environ.get(name) or f"sqlite:///{sqlite_path}"
    # Connections are kept 10 minutes; Django checks a kept one (SELECT 1) before the first
    # query of each request, so a connection the server closed is replaced, not failed on.
    config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
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
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
    return config
