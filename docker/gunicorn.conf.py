"""Gunicorn settings shared by both services, in Docker and in `make run`.

Four processes of two threads by default: a request waits on the database, which threads
overlap, but threads of one process take turns on one GIL, and every wait ends with a wait for
it behind the siblings busy in Python. On the 2-core benchmark machine 4 x 2 served GET status
about twice as fast as 2 x 4 and cut the end-to-end p99 (docs/performance.md), for ~90 MiB more
per process. Kubernetes pods, limited to one CPU each, run 2 x 4 (docker/k8s/base/configmap.yaml).
GUNICORN_WORKERS x GUNICORN_THREADS is the number of requests served at once per container, and
of database connections it holds; keep it within the connection budget (docs/scaling.md).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow for ever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") == "1" else None
errorlog = "-"
# No control socket: it lives under $HOME, which the containers' user does not have.
control_socket_disable = True

# Gunicorn's own lines (boot, worker timeouts, the access log) in the services' JSON when
# LOG_FORMAT is json, as settings.LOGGING does for the application's (servicekit/logging.py, found
# from the project directory gunicorn runs in).
_local = os.environ.get("DJANGO_ENV", "local") == "local"
if os.environ.get("LOG_FORMAT", "text" if _local else "json") == "json":
    _service = os.environ.get("OTEL_SERVICE_NAME") or os.path.basename(os.getcwd()).split("_")[0]
    logconfig_dict = {
        "formatters": {"json": {"()": "servicekit.logging.JsonFormatter", "service": _service}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            # A logging config turns gunicorn's access log on: the level keeps it off unless asked.
            "gunicorn.access": {
                "level": "INFO" if accesslog else "WARNING",
                "handlers": ["console"],
                "propagate": False,
            },
        },
    }


def child_exit(server, worker):
    """A worker that exited leaves prometheus_client's multiprocess directory: its live gauges
    go, its counters and histograms stay counted (docker/run_local.py, the entrypoint)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
