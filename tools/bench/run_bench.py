#!/usr/bin/env python3
"""`make bench`: measure the real stack (both web servers, the Celery worker and beat, PostgreSQL,
Redis) and print one table, also written to artifacts/bench.md (raw numbers in artifacts/bench.json,
the services' log in artifacts/bench-stack.log).

Fresh databases on ORDERS_DATABASE_URL's / PAYMENTS_DATABASE_URL's server (default: the
machine's PostgreSQL, postgres://postgres@127.0.0.1:5432), dropped at the end; a private
Redis unless REDIS_URL is set. See docs/performance.md for what each line measures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import budget
import e2e
import loads
import overload
import tables
from autovacuum import autovacuum_on
from data import Broker, Database
from pipeline import Pipeline
from stack import RATE_LIMIT, ROOT, Stack, fresh_database

CONNECTIONS = (16, 64)
PHASES = ("growth", "writes", "e2e", "e2e-10", "pipeline", "overload")


log = loads.log


class Bench:
    def __init__(self, args, stack: Stack, workdir: Path):
        self.args, self.stack, self.workdir = args, stack, workdir
        self.db = Database(stack.orders_db)
        self.broker = Broker(stack.redis_url)
        self.url = stack.orders_url
        self.warmed = False  # a first POST in each web worker imports the broker's client

    def warm_up(self) -> None:
        """Two seconds of POSTs, not measured, if nothing has loaded the stack yet (a phase run
        alone with --only); the next settle() retires their orders."""
        if not self.warmed:
            self.wrk("post_order.lua", 16, seconds=2)

    def settle(self) -> None:
        """Between measured runs: drop the queued tasks, and retire the orders left `created`
        (data.RETIRE_SQL), so that no run pays for an earlier one's backlog, whichever the
        design of the payment path (per-order tasks, or a charger that takes what is waiting)."""
        self.broker.purge()
        self.db.retire_created()

    def wrk(self, script: str, connections: int, *, seconds=None, numbers=None) -> dict:
        self.warmed = True
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
        summary = {w: {k: loads.summarize(r) for k, r in m.items()} for w, m in runs.items()}
        for which, measures in summary.items():
            log(f"{which} table: {json.dumps({k: round(v['rps']) for k, v in measures.items()})}")
        return summary["small"], summary["big"]

    def writes(self) -> dict:
        """POST /order under wrk, and the same transaction under pgbench, alternated run by
        run so that both see the same machine."""
        self.wrk("post_order.lua", 16, seconds=2)  # warm-up, not measured
        posts = {c: [] for c in CONNECTIONS}
        ceilings = {c: [] for c in CONNECTIONS}
        paused = []
        for run in range(self.args.runs):
            for connections in CONNECTIONS:
                self.settle()
                after = self.db.max_order_id()
                result = self.wrk("post_order.lua", connections)
                result["backlog_after"] = self.broker.backlog()
                # The same backlog as the database sees it, whatever carries the payments.
                result["created_after"] = self.db.run_orders(after)["created"]
                posts[connections].append(result)
                self.settle()
                ceilings[connections].append(
                    loads.pgbench(
                        self.stack.orders_db,
                        clients=connections,
                        seconds=self.args.seconds,
                        workdir=self.workdir,
                    )
                )
                self.settle()  # pgbench's orders stay `created`: no payment path may take them
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
        return {
            **{
                f"{kind}_{c}": loads.summarize(runs[c])
                for kind, runs in (("post", posts), ("pgbench", ceilings))
                for c in CONNECTIONS
            },
            "post_paused_16": loads.summarize(paused),
        }


def machine_load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def phases(value: str) -> list[str]:
    chosen = [p.strip() for p in value.split(",") if p.strip()]
    if unknown := set(chosen) - set(PHASES):
        raise argparse.ArgumentTypeError(f"unknown phase(s) {sorted(unknown)}; from {PHASES}")
    return chosen


def run(args) -> dict:
    only = args.only
    most_clients = max(
        [*(CONNECTIONS if "writes" in only else ()), *((16,) if "pipeline" in only else ())],
        default=0,
    )
    log("checking PostgreSQL's free connections")
    connections = budget.check(most_clients)  # exits, saying why, when they are too few
    web_server, workers, threads = budget.web_size()
    pool, concurrency = budget.celery_size(dict(os.environ))
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "label": args.label,
        # BENCH_COMMIT names the commit of a `git archive` export, which has no .git.
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or os.environ.get("BENCH_COMMIT", ""),
        "cpus": os.cpu_count(),
        "load_start": machine_load(),
        "phases": only,
        "config": {
            "web": f"{web_server}, {workers} workers x {threads} threads",
            "celery": f"{pool} pool, concurrency {concurrency}",
            "seconds": args.seconds,
            "runs": args.runs,
            "e2e_seconds": args.e2e_seconds,
            "e2e_10_seconds": args.e2e_10_seconds,
            "pipeline_seconds": args.pipeline_seconds,
            "pipeline_timeout": args.pipeline_timeout,
            "small": args.small,
            "big": args.big,
            "postgres": "ORDERS_DATABASE_URL's server"
            if os.environ.get("ORDERS_DATABASE_URL")
            else "127.0.0.1:5432",
            "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "private redis-server",
            "rate_limit": f"{'off' if RATE_LIMIT == '0' else 'on'} "
            f"(ORDERS_CREATE_RATE_LIMIT={RATE_LIMIT})",
        },
        "connections": {"budget": connections},
    }
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        fresh_database(os.environ.get("ORDERS_DATABASE_URL"), "bench_orders") as orders_db,
        fresh_database(os.environ.get("PAYMENTS_DATABASE_URL"), "bench_payments") as pay_db,
        autovacuum_on(orders_db, change_server=not args.leave_autovacuum, log=log) as vacuum,
    ):
        results["config"]["autovacuum"] = vacuum
        workdir = Path(tmp)
        stack = Stack(workdir, orders_db, pay_db, os.environ.get("REDIS_URL"))
        sampler = budget.ConnectionSampler(budget.server_of(orders_db))
        log("starting the stack (migrations, both web servers, Celery worker and beat)")
        try:
            sampler.start()
            stack.start()
            bench = Bench(args, stack, workdir)
            log(f"ready in {time.monotonic() - started:.0f}s")
            if "growth" in only:
                results["small"], results["big"] = bench.growth()
            if "writes" in only:
                results["writes"] = bench.writes()
            if "e2e" in only:
                rate = args.e2e_rate or max(
                    results["writes"][f"post_{c}"]["rps"] / 2 for c in CONNECTIONS
                )
                results["e2e"] = e2e.end_to_end(bench, rate, args.e2e_seconds)
            if "e2e-10" in only:
                results["e2e_10"] = e2e.end_to_end(bench, 10, args.e2e_10_seconds)
            if "pipeline" in only:
                results["pipeline"] = Pipeline(bench).measure()
            if "overload" in only:
                capacity = args.capacity or (
                    results["writes"]["post_16"]["rps"]
                    if "writes" in results
                    else overload.capacity(bench)
                )
                results["overload"] = overload.overload(
                    bench, capacity, seconds=args.overload_seconds
                )
        except BaseException:
            log(f"failed; the stack's log ends with:\n{stack.log_tail()}")
            raise
        finally:
            results["memory"] = stack.stop()
            seen = sampler.stop()
            names = {orders_db.rpartition("/")[2]: "orders", pay_db.rpartition("/")[2]: "payments"}
            seen["peak_by_db"] = {names.get(k, k): v for k, v in seen["peak_by_db"].items()}
            results["connections"]["seen"] = seen
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
        "--e2e-rate",
        type=float,
        help="arrival rate of the e2e phase (default: half the best POST median of the writes)",
    )
    parser.add_argument(
        "--e2e-10-seconds", type=float, default=10, help="each open-loop run at 10 orders/s"
    )
    parser.add_argument(
        "--pipeline-seconds", type=int, default=10, help="each wrk run of the pipeline phase"
    )
    parser.add_argument(
        "--pipeline-timeout",
        type=float,
        default=120,
        help="longest wait, after a pipeline run, for its orders to leave `created`",
    )
    parser.add_argument(
        "--overload-seconds", type=float, default=60, help="the overload phase's 3x run"
    )
    parser.add_argument(
        "--capacity",
        type=float,
        help="POST /order's capacity (req/s) the overload phase scales (default: the writes "
        "phase's median at 16 connections, or a 5 s wrk run)",
    )
    parser.add_argument(
        "--only",
        type=phases,
        default=list(PHASES),
        help=f"comma-separated phases to run, of {','.join(PHASES)} (default: all)",
    )
    parser.add_argument(
        "--settle-timeout", type=float, default=30, help="longest wait for payment outcomes"
    )
    parser.add_argument(
        "--leave-autovacuum",
        action="store_true",
        help="run with PostgreSQL's autovacuum as the server has it (default: on for the run)",
    )
    parser.add_argument("--label", default="", help="a note for the table's title")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench.md")
    args = parser.parse_args()
    if "e2e" in args.only and "writes" not in args.only and not args.e2e_rate:
        parser.error("the e2e phase without the writes needs --e2e-rate")

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
