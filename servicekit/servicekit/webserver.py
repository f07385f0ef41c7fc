"""The HTTP server of both services: granian's WSGI server, run from the project's directory.

    cd orders_project && python -m servicekit.webserver     (Docker: entrypoint.sh orders-web)

Why granian and not gunicorn: it parses HTTP and moves bytes in Rust, outside the GIL, so the
server's own share of a request is a fraction of gunicorn's gthread workers' (docs/performance.md,
the layer table and the A/B).

Settings, from the environment (defaults suit the 2-core machine; docs/settings.md):
    WEB_BIND              host:port to listen on (default 0.0.0.0:8000)
    WEB_WORKERS           processes (default 2: one per core), each with its own GIL
    WEB_THREADS           threads per process running the application (default 4: a request
                          mostly waits on the database and Redis). WEB_WORKERS x WEB_THREADS
                          requests are served at once, and as many database connections are
                          held, plus one per process for the probes (docs/scaling.md)
    WEB_QUEUE_TIMEOUT_MS  longest wait of a request for one of those threads before it is
                          answered 503 with Retry-After (default 1000; servicekit/admission.py)
    WEB_QUEUE_LENGTH      requests per process that may wait for one at once; more are answered
                          the 503 at once (default 128)
    WEB_MAX_CONNECTIONS   client connections a process keeps open at once (default 4096); the
                          process's open-files limit is raised to fit them
    WEB_BACKLOG           connections the kernel holds for the server before it accepts them
                          (default 4096; the kernel caps it at net.core.somaxconn)
    WEB_GRACEFUL_TIMEOUT  seconds a stopping worker gets to finish its requests before it is
                          killed (default 20)
    WEB_MAX_RSS_MIB       a worker whose resident memory is over this at a check (every 30 s) is
                          replaced, gracefully (default 512): the guard against a slow leak
    WEB_ACCESS_LOG        1 to log every request (default 0)
SIGINT and SIGTERM stop it gracefully: the workers finish their requests, then it exits 0.
"""

import copy
import logging
import os
import resource
from pathlib import Path

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LOGGING_CONFIG

from servicekit.admission import server_threads
from servicekit.env import env_bool, env_number, env_str
from servicekit.settings import log_format
from servicekit.tracing import service_name

TARGET = "config.wsgi:application"
DEFAULT_WORKERS = 2
# A request line and headers over this are refused with a 431 before the service reads them
# (servicekit/openapi.py documents it); granian's own default lets several times more through.
# Its HTTP/1 reader grows its buffer by doubling chunks (16, 32 KiB...), so a limit between two of
# its steps is only enforced at the next one: 48 KiB is one of them, and holds exactly.
MAX_HEAD_BYTES = 48 * 1024
# A thread idle this long retires, and Django's database connection with it (one per thread):
# granian's longest, so that a quiet service does not reconnect after every pause of 30 s.
THREAD_IDLE_SECONDS = 600
# Connections, not requests: granian holds a permit per open connection, idle keep-alive ones
# included, and accepts no other until one closes. Its default (1024 / the workers: 512 each
# here) let an open-loop burst at three times the capacity open more connections than that: the
# newest waited unaccepted in the kernel's queue while the first ones kept their permits, and 870
# of 113,110 requests got no answer in 10 s while every other got one within 1.6 s
# (docs/performance.md, Overload). Each connection costs a file and a few KiB in Rust; what
# bounds the work is the admission gate (servicekit/admission.py), which answers the excess 503
# at once, so connections are allowed far above what the gate lets through.
DEFAULT_MAX_CONNECTIONS = 4096
# Linux's default ceiling (net.core.somaxconn) since 5.4: a burst of new connections waits there
# for the accept loop instead of having its SYNs dropped and retried a second later.
DEFAULT_BACKLOG = 4096
# Files a worker needs besides its clients' connections: the database and Redis connections,
# the listening socket, logs, the modules it reads.
OTHER_FILES = 256


class GateThreadsWarningFilter(logging.Filter):
    """Drops granian's start-up warning that its thread count "seems quite high" for the cores:
    it assumes every thread runs the application, while behind the admission gate
    (servicekit/admission.py) only WEB_THREADS of them do; the others wait for a slot or answer
    a shed, and a warning at every start that asks to change nothing would teach readers to skip
    the server's warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "seems quite high" not in record.getMessage()


GATE_THREADS_FILTER = {"gate_threads": {"()": "servicekit.webserver.GateThreadsWarningFilter"}}


def log_config(project_dir: Path) -> dict:
    """granian's own lines: in the services' JSON when LOG_FORMAT is json, as settings.LOGGING
    does for the application's, else in granian's text format; without the warning above."""
    local = env_str("DJANGO_ENV", "local") == "local"
    if log_format(is_local=local) != "json":
        config = copy.deepcopy(LOGGING_CONFIG)
        config["filters"] = GATE_THREADS_FILTER
        config["loggers"]["_granian"]["filters"] = ["gate_threads"]
        return config
    service = service_name(project_dir.name.split("_")[0])
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": GATE_THREADS_FILTER,
        "formatters": {"json": {"()": "servicekit.logging.JsonFormatter", "service": service}},
        "handlers": {"console": handler},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "_granian": {**_through_console(), "filters": ["gate_threads"]},
            "granian.access": _through_console(),
        },
    }


def _through_console() -> dict:
    """A logger that writes through the console handler alone, not again through the root's; one
    dict for each logger, as granian sets a logger's level in its own."""
    return {"level": "INFO", "handlers": ["console"], "propagate": False}


def server_options(project_dir: Path) -> dict:
    """granian's options, from the environment."""
    host, _, port = env_str("WEB_BIND", "0.0.0.0:8000").rpartition(":")
    return dict(
        address=host or "0.0.0.0",  # noqa: S104 (a container listens on its own interface)
        port=int(port),
        interface=Interfaces.WSGI,
        # HTTP/1.1 only: every caller (probes, Payments' client, compose, Kubernetes Services)
        # speaks it, and the limits the schema documents (MAX_HEAD_BYTES, 100 headers) are
        # HTTP/1's; granian's "auto" would also take cleartext HTTP/2 without them.
        http=HTTPModes.http1,
        workers=env_number("WEB_WORKERS", DEFAULT_WORKERS, minimum=1),
        # More than the application's WEB_THREADS: the admission gate's waiting line and its
        # sheds run on them too (servicekit/admission.py); only WEB_THREADS run the application.
        blocking_threads=server_threads(),
        blocking_threads_idle_timeout=THREAD_IDLE_SECONDS,
        websockets=False,
        backlog=env_number("WEB_BACKLOG", DEFAULT_BACKLOG, minimum=128),
        backpressure=connection_limits()[1],
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        working_dir=project_dir,
        log_dictconfig=log_config(project_dir),
        log_access=env_bool("WEB_ACCESS_LOG", False),
        # Without it a worker that does not stop keeps the server from stopping at all.
        workers_kill_timeout=env_number("WEB_GRACEFUL_TIMEOUT", 20, minimum=1),
        workers_max_rss=env_number("WEB_MAX_RSS_MIB", 512, minimum=1),
        # A worker that crashed is started again (granian exits if one crashes twice in 5 s).
        respawn_failed_workers=True,
    )


def connection_limits() -> tuple[int, int]:
    """(WEB_MAX_CONNECTIONS, what a process may take of them): as many as the open-files hard
    limit leaves room for, since raise_open_files_limit() raises the soft one up to it."""
    wanted = env_number("WEB_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, minimum=1)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return wanted, wanted
    return wanted, max(1, min(wanted, hard - OTHER_FILES))


def raise_open_files_limit() -> None:
    """Raise the soft open-files limit (1024 in many containers), which granian's workers
    inherit, to what the connections need; warn when the hard limit is what bounds them."""
    wanted, allowed = connection_limits()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < allowed + OTHER_FILES:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(allowed + OTHER_FILES, hard), hard))
    if allowed < wanted:
        logging.getLogger(__name__).warning(
            "WEB_MAX_CONNECTIONS is %d, but the open-files hard limit (%d) leaves room for %d "
            "connections a process; raise it (ulimit -Hn, a container's nofile) to take more",
            wanted,
            hard,
            allowed,
        )


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    raise_open_files_limit()
    Granian(TARGET, **server_options(Path.cwd())).serve()


if __name__ == "__main__":
    main()
