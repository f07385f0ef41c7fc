"""PostgreSQL's connections for `make bench`: what the run holds at once, against what the
server has free, checked before anything starts (so that a run never dies half-way on "too many
clients"), and a sampler of the peak actually seen during the run."""

import json
import os
import runpy
import subprocess
import sys
import tempfile
import threading

import psycopg
from stack import DEFAULT_SERVER, ROOT

# A tree from before granian (measured as the "before" of an A/B) sized gunicorn here.
GUNICORN_CONF = ROOT / "docker" / "gunicorn.conf.py"
# The harness's own, at most at once: one query connection (data.Database opens one per call)
# and the sampler's.
HARNESS_CONNECTIONS = 2


def server_of(url: str | None) -> str:
    return url.rpartition("/")[0] if url else DEFAULT_SERVER


def web_size() -> tuple[str, int, int]:
    """The HTTP server both services run under, with its processes and threads per service:
    granian's WEB_WORKERS x WEB_THREADS (servicekit/webserver.py), or gunicorn's settings in a
    tree from before it."""
    if GUNICORN_CONF.exists():
        conf = runpy.run_path(str(GUNICORN_CONF))
        return "gunicorn (gthread)", int(conf["workers"]), int(conf["threads"])
    from servicekit.webserver import DEFAULT_WORKERS

    try:
        from servicekit.admission import DEFAULT_THREADS
    except ImportError:  # a tree from before the admission gate
        from servicekit.webserver import DEFAULT_THREADS

    workers = int(os.environ.get("WEB_WORKERS") or DEFAULT_WORKERS)
    return "granian", workers, int(os.environ.get("WEB_THREADS") or DEFAULT_THREADS)


def celery_size(env: dict) -> tuple[str, int]:
    """The worker's pool and concurrency, from Orders' settings as the worker reads them."""
    code = (
        "import json, os; from django.conf import settings as s; print(json.dumps("
        "[getattr(s, 'CELERY_WORKER_POOL', 'prefork'), "
        "getattr(s, 'CELERY_WORKER_CONCURRENCY', None) or os.cpu_count()]))"
    )
    with tempfile.TemporaryDirectory(prefix="bench-settings-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT / "orders_project",
            env={
                **env,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DJANGO_ENV": "local",
                "ORDERS_VAR_DIR": tmp,
                # Parsed, never connected to: settings do not touch the database.
                "ORDERS_DATABASE_URL": env.get("ORDERS_DATABASE_URL")
                or f"{DEFAULT_SERVER}/postgres",
            },
            capture_output=True,
            text=True,
            check=True,
        )
    pool, concurrency = json.loads(done.stdout.strip().splitlines()[-1])
    return pool, int(concurrency)


def needed(pgbench_clients: int) -> list[dict]:
    """Each holder of connections during the run: what it is, how many, on which server."""
    server, workers, threads = web_size()
    pool, concurrency = celery_size(dict(os.environ))
    orders = server_of(os.environ.get("ORDERS_DATABASE_URL"))
    payments = server_of(os.environ.get("PAYMENTS_DATABASE_URL"))
    # One per working slot (CONN_MAX_AGE keeps it open) and one per process for the probes'
    # lane (servicekit/admission.py).
    per_service = workers * (threads + 1)
    size = f"{server}, {workers} workers x {threads} threads"
    return [
        {"term": f"Orders web, {size}", "n": per_service, "server": orders},
        {"term": f"Payments web, {size}", "n": per_service, "server": payments},
        {"term": f"Celery worker, {pool} pool x {concurrency}", "n": concurrency, "server": orders},
        {"term": "Celery beat (DatabaseScheduler)", "n": 1, "server": orders},
        {"term": "pgbench, the most clients of one run", "n": pgbench_clients, "server": orders},
        {
            "term": "the harness (its queries, the connection sampler)",
            "n": HARNESS_CONNECTIONS,
            "server": orders,
        },
        {
            # A web worker may be replaced (gunicorn's GUNICORN_MAX_REQUESTS, granian's
            # WEB_MAX_RSS_MIB); the old one's backends may still be ending while its successor
            # connects.
            "term": "margin: one replaced web worker per service, old and new at once",
            "n": 2 * (threads + 1),
            "server": orders,
        },
    ]


def free(server: str) -> dict:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting::int FROM pg_settings WHERE name IN ('max_connections', "
                "'superuser_reserved_connections', 'reserved_connections')"
            ).fetchall()
        )
        in_use = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    reserved = settings.get("superuser_reserved_connections", 0)
    reserved += settings.get("reserved_connections", 0)  # PostgreSQL 16+
    return {
        "max_connections": settings["max_connections"],
        "reserved": reserved,
        "in_use": in_use,
        "free": settings["max_connections"] - reserved - in_use,
    }


def check(pgbench_clients: int) -> dict:
    """The budget per server; raises SystemExit with the numbers when one is short."""
    per_server: dict[str, list[dict]] = {}
    for item in needed(pgbench_clients):
        per_server.setdefault(item.pop("server"), []).append(item)
    report = {}
    for server, items in per_server.items():
        need = sum(item["n"] for item in items)
        have = free(server)
        report[server.rpartition("@")[2]] = {"needed": need, "terms": items, **have}
        if need > have["free"]:
            listed = "\n".join(f"  {item['n']:4d}  {item['term']}" for item in items)
            raise SystemExit(
                f"bench: PostgreSQL at {server.rpartition('@')[2]} has {have['free']} free "
                f"connections, the bench needs {need}:\n{listed}\n"
                f"free = max_connections {have['max_connections']} - reserved "
                f"{have['reserved']} - {have['in_use']} in use now.\n"
                f"Raise max_connections to at least "
                f"{have['max_connections'] + need - have['free']} (ALTER SYSTEM SET "
                "max_connections = ...; then restart PostgreSQL), close other sessions, or run "
                "with fewer (GUNICORN_WORKERS, GUNICORN_THREADS, CELERY_WORKER_CONCURRENCY)."
            )
    return report


class ConnectionSampler(threading.Thread):
    """The most client connections seen at once on the server, twice a second, and the most on
    each of the bench's databases (one connection of its own, counted in the budget)."""

    def __init__(self, server: str):
        super().__init__(daemon=True)
        self.server = server
        self.peak_total = 0
        self.peak_by_db: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
                while not self._stop_event.wait(0.5):
                    rows = conn.execute(
                        "SELECT datname, count(*) FROM pg_stat_activity "
                        "WHERE backend_type = 'client backend' GROUP BY datname"
                    ).fetchall()
                    self.peak_total = max(self.peak_total, sum(n for _, n in rows))
                    for name, n in rows:
                        if name and name.startswith("bench_"):
                            self.peak_by_db[name] = max(self.peak_by_db.get(name, 0), n)
        except psycopg.Error as exc:  # a sampler must never end the run
            print(f"[bench] connection sampler stopped: {exc}", file=sys.stderr)

    def stop(self) -> dict:
        self._stop_event.set()
        self.join(timeout=5)
        return {"peak_total": self.peak_total, "peak_by_db": self.peak_by_db}
