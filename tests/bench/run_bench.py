#!/usr/bin/env python3
"""`make bench`: measure the real stack (gunicorn, Celery worker and beat, PostgreSQL, Redis)
and print one table, also written to artifacts/bench.md (raw numbers in artifacts/bench.json,
the services' log in artifacts/bench-stack.log).

Fresh databases on ORDERS_DATABASE_URL's / PAYMENTS_DATABASE_URL's server (default: the
machine's PostgreSQL, postgres://postgres@127.0.0.1:5432), dropped at the end; a private
Redis unless REDIS_URL is set. See docs/performance.md for what each line measures.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loads
import tables
from data import Broker, Database
from stack import DELIVERY_DELAY_SECONDS, ROOT, Stack, fresh_database

CONNECTIONS = (16, 64)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarize(runs: list[dict]) -> dict:
    """The median of each number over the runs, and the runs themselves."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


class Bench:
    def __init__(self, args, stack: Stack, workdir: Path):
        self.args, self.stack, self.workdir = args, stack, workdir
        self.db = Database(stack.orders_db)
        self.broker = Broker(stack.redis_url)
        self.url = stack.orders_url

    def wrk(self, script: str, connections: int, *, seconds=None, numbers=None) -> dict:
        return loads.wrk(
            self.url,
            script,
            connections=connections,
            seconds=seconds or self.args.seconds,
            env={"BENCH_NUMBERS": str(numbers or self.workdir / "numbers_small.txt")},
        )

    def growth(self) -> tuple[dict, dict]:
        """GET /order/status/<n> (random existing numbers) and the first page of GET /order/,
        with 10 thousand and with 1 million orders in the table. The two tables alternate run
        by run (renamed in and out), so that a shared machine's drift hits both alike."""
        sizes = {"small": ("orders_order", self.args.small), "big": (Database.BIG, self.args.big)}
        for which, (table, size) in sizes.items():
            added, took = self.db.seed(table, size)
            self.db.sample_numbers(table, self.workdir / f"numbers_{which}.txt")
            log(f"seeded {added} orders in {took:.1f}s: {self.db.count(table)} in {table}")
        runs = {"small": {}, "big": {}}
        scripts = {"status_16": ("order_status.lua", 16), "list_16": ("order_list.lua", 16)}
        try:
            for run in range(self.args.runs):
                # Each measure on both sizes back to back (first one, then the other, then the
                # other way round next run), so that each pair is seconds apart.
                for key, (script, connections) in scripts.items():
                    for which in ("small", "big") if run % 2 == 0 else ("big", "small"):
                        self.db.use_big(which == "big")
                        numbers = self.workdir / f"numbers_{which}.txt"
                        self.wrk(script, connections, seconds=1, numbers=numbers)  # warm-up
                        result = self.wrk(script, connections, numbers=numbers)
                        runs[which].setdefault(key, []).append(result)
                # Item 3 of the table also wants 64 connections, on the 10k table only.
                self.db.use_big(False)
                numbers = self.workdir / "numbers_small.txt"
                result = self.wrk("order_status.lua", 64, numbers=numbers)
                runs["small"].setdefault("status_64", []).append(result)
        finally:
            self.db.drop_big()
        summary = {w: {k: summarize(r) for k, r in m.items()} for w, m in runs.items()}
        for which, measures in summary.items():
            log(f"{which} table: {json.dumps({k: round(v['rps']) for k, v in measures.items()})}")
        return summary["small"], summary["big"]

    def writes(self) -> dict:
        """POST /order under wrk, and the same transaction under pgbench, alternated run by
        run so that both see the same machine."""
        self.broker.purge()
        self.wrk("post_order.lua", 16, seconds=2)  # warm-up, not measured
        posts = {c: [] for c in CONNECTIONS}
        ceilings = {c: [] for c in CONNECTIONS}
        paused = []
        for run in range(self.args.runs):
            for connections in CONNECTIONS:
                self.broker.purge()
                result = self.wrk("post_order.lua", connections)
                result["backlog_after"] = self.broker.backlog()
                posts[connections].append(result)
                self.broker.purge()
                ceilings[connections].append(
                    loads.pgbench(
                        self.stack.orders_db,
                        clients=connections,
                        seconds=self.args.seconds,
                        workdir=self.workdir,
                    )
                )
                if connections == CONNECTIONS[0]:
                    # Diagnostic: the web path alone, without the payment pipeline's CPU.
                    with self.stack.worker_paused():
                        result = self.wrk("post_order.lua", connections)
                        result["backlog_after"] = self.broker.purge()
                    paused.append(result)
                log(
                    f"run {run + 1}, {connections} connections: POST "
                    f"{posts[connections][-1]['rps']:.0f}/s, pgbench "
                    f"{ceilings[connections][-1]['tps']:.0f} tps"
                )
        self.broker.purge()
        return {
            **{
                f"{kind}_{c}": summarize(runs[c])
                for kind, runs in (("post", posts), ("pgbench", ceilings))
                for c in CONNECTIONS
            },
            "post_paused_16": summarize(paused),
        }

    def end_to_end(self, rate: float) -> dict:
        """Open-loop POSTs at `rate`, then from the database: created -> confirmed/cancelled,
        and confirmed -> delivered against the due time. Each run waits (up to
        --settle-timeout) until its orders have settled, so that the next one starts on an
        empty queue; medians of the runs' percentiles, sums of the counts."""
        runs = [self.end_to_end_run(rate) for _ in range(self.args.runs)]
        total = {k: sum(r[k] for r in runs) for k in ("sent", "errors", "e2e_count", "lag_count")}
        states: dict[str, int] = {}
        for r in runs:
            for state, count in r["states"].items():
                states[state] = states.get(state, 0) + count
        return {**summarize(runs), **total, "states": states, "rate": rate}

    def end_to_end_run(self, rate: float) -> dict:
        self.broker.purge()
        seconds = self.args.e2e_seconds
        sent = loads.open_loop_posts(self.url, rate=rate, seconds=seconds)
        numbers = sent.pop("numbers")
        settle = self.args.settle_timeout
        settled = self.db.wait_until_none(numbers, "created", timeout=settle)
        # A lag past 10 s fails its target by far; waiting longer would only stretch the run.
        delivered = self.db.wait_until_none(
            numbers, "confirmed", timeout=DELIVERY_DELAY_SECONDS + 10
        )
        journeys = self.db.journeys(numbers)
        to_outcome = [
            (paid - created).total_seconds() * 1000
            for _, _, created, _, paid, _ in journeys
            if paid
        ]
        lags = [
            (dlv - paid).total_seconds() * 1000 - DELIVERY_DELAY_SECONDS * 1000
            for _, _, _, outcome, paid, dlv in journeys
            if outcome == "confirmed" and dlv
        ]
        result = {
            **sent,
            "states": self.db.states(numbers),
            "settled": int(settled),
            "all_delivered": int(delivered),
            "e2e_p50_ms": loads.percentile(to_outcome, 50),
            "e2e_p99_ms": loads.percentile(to_outcome, 99),
            "e2e_count": len(to_outcome),
            "lag_p50_ms": loads.percentile(lags, 50),
            "lag_p99_ms": loads.percentile(lags, 99),
            "lag_count": len(lags),
        }
        log(
            f"end to end at {rate:.0f}/s for {seconds:.0f}s: {result['sent']} sent, "
            f"{len(to_outcome)} settled, p99 {result['e2e_p99_ms']:.0f} ms, "
            f"delivery lag p99 {result['lag_p99_ms']:.0f} ms"
        )
        return result


def machine_load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run(args) -> dict:
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "label": args.label,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "load_start": machine_load(),
        "config": {
            "gunicorn": f"{os.environ.get('GUNICORN_WORKERS', '4')} workers x "
            f"{os.environ.get('GUNICORN_THREADS', '2')} threads (gthread)",
            "celery": f"{os.environ.get('CELERY_WORKER_POOL', 'threads')} pool, concurrency "
            f"{os.environ.get('CELERY_WORKER_CONCURRENCY', '8')}",
            "seconds": args.seconds,
            "runs": args.runs,
            "e2e_seconds": args.e2e_seconds,
            "small": args.small,
            "big": args.big,
            "postgres": "ORDERS_DATABASE_URL's server"
            if os.environ.get("ORDERS_DATABASE_URL")
            else "127.0.0.1:5432",
            "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "private redis-server",
        },
    }
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        fresh_database(os.environ.get("ORDERS_DATABASE_URL"), "bench_orders") as orders_db,
        fresh_database(os.environ.get("PAYMENTS_DATABASE_URL"), "bench_payments") as pay_db,
    ):
        workdir = Path(tmp)
        stack = Stack(workdir, orders_db, pay_db, os.environ.get("REDIS_URL"))
        log("starting the stack (migrations, gunicorn x2, Celery worker and beat)")
        try:
            stack.start()
            bench = Bench(args, stack, workdir)
            log(f"ready in {time.monotonic() - started:.0f}s")
            results["small"], results["big"] = bench.growth()
            results["writes"] = bench.writes()
            max_rate = max(results["writes"][f"post_{c}"]["rps"] for c in CONNECTIONS)
            results["e2e"] = bench.end_to_end(max_rate / 2)
        except BaseException:
            log(f"failed; the stack's log ends with:\n{stack.log_tail()}")
            raise
        finally:
            results["memory"] = stack.stop()
            log_copy = args.out.with_name(args.out.stem + "-stack.log")
            log_copy.parent.mkdir(parents=True, exist_ok=True)
            log_copy.write_text(stack.log_path.read_text(errors="replace"))
    results["load_end"] = machine_load()
    results["elapsed_s"] = time.monotonic() - started
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk/pgbench run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--small", type=int, default=10_000, help="orders for the small table")
    parser.add_argument("--big", type=int, default=1_000_000, help="orders for the big table")
    parser.add_argument("--e2e-seconds", type=float, default=5, help="each open-loop run")
    parser.add_argument(
        "--settle-timeout", type=float, default=30, help="longest wait for payment outcomes"
    )
    parser.add_argument("--label", default="", help="a note for the table's title")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench.md")
    args = parser.parse_args()

    results = run(args)
    table = tables.markdown(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    print(table)
    log(f"done in {results['elapsed_s']:.0f}s; written to {args.out} (and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
