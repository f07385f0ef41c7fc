"""The load generators of `make bench`: wrk (closed loop, for throughput and latency), pgbench
(the database's own ceiling for the same transaction) and an open-loop Python sender (a fixed
arrival rate, for the end-to-end times)."""

import glob
import http.client
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
ORDER_BODY = json.dumps(
    {"name": "Bench Customer", "address": "1 Benchmark Street, Springfield", "price": 12.34}
)
WRK_THREADS = 2  # one per core of the 2-core machine the targets are set for


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarize(runs: list[dict]) -> dict:
    """The median of each number over the runs, and the runs themselves."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


def wrk(url: str, script: str, *, connections: int, seconds: int, env=None) -> dict:
    """One wrk run; every non-2xx answer and every socket error (connect, read, write,
    timeout) counts as an error."""
    args = [
        "wrk",
        f"-t{min(WRK_THREADS, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        script,
        url,
    ]
    done = subprocess.run(
        args,
        cwd=BENCH_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "errors": raw["non2xx"] + socket_errors,
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
    }


def find_pgbench() -> str:
    found = os.environ.get("PGBENCH") or shutil.which("pgbench")
    if not found:
        candidates = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/pgbench"),
            key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
        )
        found = candidates[-1] if candidates else None
    if not found:
        raise RuntimeError(
            "pgbench not found: it ships with PostgreSQL (postgresql-NN); or set PGBENCH"
        )
    return found


def pgbench(
    db_url: str, *, clients: int, seconds: int, workdir: Path, script: str = "order_create.pgbench"
) -> dict:
    """pgbench with a script of tools/bench/ (order_create.pgbench by default): TPS (without
    connection time; one run of the script is one transaction) and the per-transaction
    latencies of its log."""
    prefix = workdir / f"pgbench_{clients}_{time.monotonic_ns()}"
    args = [
        find_pgbench(),
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={min(WRK_THREADS, clients)}",
        f"--time={seconds}",
        f"--file={BENCH_DIR / script}",
        "--log",
        f"--log-prefix={prefix}",
        db_url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latencies_ms = []
    for path in glob.glob(f"{prefix}.*"):
        with open(path) as log:
            latencies_ms.extend(int(line.split()[2]) / 1000 for line in log if line.strip())
        os.unlink(path)
    return {
        "tps": float(tps.group(1)),
        "p50_ms": percentile(latencies_ms, 50),
        "p99_ms": percentile(latencies_ms, 99),
        "failed": int(failed.group(1)) if failed else 0,
    }


def open_loop_posts(base_url: str, *, rate: float, seconds: float, senders: int = 256) -> dict:
    """POST /order at a fixed arrival rate, whatever the answers' speed (open loop): request i
    is due at start + i / rate and is handed to a pool of `senders` threads, each with its own
    keep-alive connection. How late the sends were says whether the pacing held."""
    split = urlsplit(base_url)
    local = threading.local()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def send(due: float) -> dict:
        started = time.monotonic()
        result = {"late_ms": (started - due) * 1000, "status": None, "number": None}
        for attempt in range(2):  # once more on a connection the server had closed
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(split.hostname, split.port, 10)
            try:
                conn.request("POST", "/order", ORDER_BODY, headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                local.conn = None
                result["error"] = repr(exc)
                if attempt:
                    return result
                continue
            result["status"] = response.status
            result.pop("error", None)
            if response.status == 201:
                result["number"] = json.loads(body)["orderNumber"]
            break
        result["latency_ms"] = (time.monotonic() - started) * 1000
        return result

    total = int(rate * seconds)
    with ThreadPoolExecutor(max_workers=senders) as pool:
        start = time.monotonic() + 0.2
        futures = []
        for i in range(total):
            due = start + i / rate
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            futures.append(pool.submit(send, due))
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - start
    latencies = [r["latency_ms"] for r in results if "latency_ms" in r]
    late = [r["late_ms"] for r in results]
    return {
        "sent": total,
        "achieved_rate": total / elapsed if elapsed > 0 else float("nan"),
        "numbers": [r["number"] for r in results if r["number"]],
        "errors": sum(1 for r in results if r["status"] != 201),
        "post_p50_ms": percentile(latencies, 50),
        "post_p99_ms": percentile(latencies, 99),
        "late_p99_ms": percentile(late, 99),
        "late_max_ms": max(late) if late else float("nan"),
    }
