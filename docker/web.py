"""The web server of both services: granian's WSGI server, run from the project's directory.

    cd orders_project && python ../docker/web.py        (Docker: entrypoint.sh orders-web)

Why granian and not gunicorn: on the 2-core benchmark machine it answered POST /order about
half as fast again with the whole system running (docs/performance.md, interleaved A/B); its
HTTP handling is Rust, so a request costs the GIL only for the application's own Python.

Settings (the environment; the defaults suit the 2-core machine):
    WEB_BIND             host:port to listen on (default 0.0.0.0:8000)
    WEB_WORKERS          processes (default 4); each has its own GIL and database connections
    WEB_THREADS          threads per process running the application (default 2); WEB_WORKERS x
                         WEB_THREADS is the number of requests served at once, and of database
                         connections held (docs/scaling.md)
    WEB_GRACEFUL_TIMEOUT seconds a stopping worker gets to finish its requests (default 20)
    WEB_MAX_RSS_MIB      a worker over this resident size is replaced (default 512): what
                         gunicorn's max_requests recycling guarded against, a slow leak
    WEB_ACCESS_LOG       1 to log every request (default 0)
    LOG_FORMAT           json: granian's own lines in the services' JSON (config/logging.py)
SIGINT and SIGTERM stop it gracefully: workers finish their requests, then it exits 0.
"""

import os
import sys
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces


def log_config(project_dir: Path) -> dict | None:
    """Granian's loggers through the services' JSON formatter when LOG_FORMAT is json, as
    settings.LOGGING does for the application's; None keeps granian's own text format."""
    local = os.environ.get("DJANGO_ENV", "local") == "local"
    if os.environ.get("LOG_FORMAT", "text" if local else "json") != "json":
        return None
    sys.path.insert(0, str(project_dir))  # config.logging, as the application imports it
    service = os.environ.get("OTEL_SERVICE_NAME") or project_dir.name.split("_")[0]
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.logging.JsonFormatter", "service": service}},
        "handlers": {"console": handler},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "_granian": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "granian.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def server(project_dir: Path) -> Granian:
    host, _, port = os.environ.get("WEB_BIND", "0.0.0.0:8000").rpartition(":")
    dictconfig = log_config(project_dir)
    return Granian(
        "config.wsgi:application",
        address=host or "0.0.0.0",  # noqa: S104 (a container listens on its own interface)
        port=int(port),
        interface=Interfaces.WSGI,
        workers=int(os.environ.get("WEB_WORKERS", "4")),
        blocking_threads=int(os.environ.get("WEB_THREADS", "2")),
        websockets=False,
        working_dir=project_dir,
        log_dictconfig=dictconfig,
        log_access=os.environ.get("WEB_ACCESS_LOG", "0") == "1",
        workers_kill_timeout=int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20")),
        workers_max_rss=int(os.environ.get("WEB_MAX_RSS_MIB", "512")),
        # A worker that crashed is started again, as gunicorn's arbiter did.
        respawn_failed_workers=True,
    )


if __name__ == "__main__":
    server(Path.cwd()).serve()
