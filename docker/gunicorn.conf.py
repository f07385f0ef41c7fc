"""Gunicorn settings shared by both services, in Docker and in `make run`.

Threads, not more processes: a request spends most of its time waiting on the database, and
threads share one interpreter's memory. GUNICORN_WORKERS x GUNICORN_THREADS is the number of
requests served at once per container; keep it below the database's connection budget.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
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
