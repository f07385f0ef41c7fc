"""The HTTP server's own cost: a bare WSGI callable (layers.constant_wsgi) served by granian,
and by gunicorn where it is installed (an earlier tree's environment), under wrk at 16
connections; CPU of the server's processes per request. Part of tools/bench/layers.py."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cpu
from stack import free_port

POST_LUA = Path(__file__).resolve().parent / "post_order.lua"


def served_cpu_us(command: list[str], cwd: Path, port: int, seconds: int) -> tuple[float, float]:
    """Requests per second and CPU µs per request of a server's processes under wrk."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/order"
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-s", "-o", "/dev/null", url]).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer on {port}")
            time.sleep(0.2)
        wrk = ["wrk", "-t2", "-c16", "--latency", "-s", str(POST_LUA), url]
        subprocess.run([*wrk[:1], "-d2s", *wrk[1:]], capture_output=True, check=True)
        pids = cpu.descendants(process.pid)
        before = sum(cpu.cpu_seconds(pid) for pid in pids)
        out = subprocess.run(
            [*wrk[:1], f"-d{seconds}s", *wrk[1:]], capture_output=True, text=True, check=True
        ).stdout
        after = sum(cpu.cpu_seconds(pid) for pid in cpu.descendants(process.pid) | pids)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return requests / seconds, (after - before) / requests * 1e6


def measure(*, seconds: int) -> list[tuple[str, float, float]]:
    """(server, requests per second, CPU µs per request) of each server installed."""
    here = Path(__file__).resolve().parent
    port = free_port()
    servers = [
        (
            "granian 4 x 2",
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--workers",
                "4",
                "--blocking-threads",
                "2",
                "--port",
                str(port),
                "--no-log",
                "layers:constant_wsgi",
            ],
        ),
    ]
    if (
        subprocess.run([sys.executable, "-c", "import gunicorn"], capture_output=True).returncode
        == 0
    ):
        servers.append(
            (
                "gunicorn 4 x 2 gthread",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-w",
                    "4",
                    "--threads",
                    "2",
                    "-k",
                    "gthread",
                    "-b",
                    f"127.0.0.1:{port}",
                    "layers:constant_wsgi",
                ],
            )
        )
    rows = []
    for label, command in servers:
        rps, cpu_us = served_cpu_us(command, here, port, seconds)
        rows.append((label, rps, cpu_us))
    return rows
