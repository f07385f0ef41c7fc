#!/usr/bin/env python3
"""`make soak`: the whole system (both web servers, the Celery worker and beat, PostgreSQL,
Redis) under an open-loop POST /order load at half its capacity for SOAK_MINUTES, sampled every
few seconds; a verdict per target, a plot, and a non-zero exit if a target fails.

Capacity is measured first unless --capacity gives it: the orders decided a second with POST
/order saturated (wrk, closed loop, 16 connections), as make bench's pipeline line measures it,
the median of three runs, since one run of 10 s on a shared machine can be 40 % off. Then every
web worker of both services serves the requests it serves in the run (warm_up.py), so that no
worker's first requests are judged as growth. Every --sample-seconds: the requests answered
(201s and anything else) with their p50/p99, the orders decided, the resident memory of every
process of the stack, the connections PostgreSQL holds for both databases, and the tables'
sizes and dead tuples. The first and the last sixth of the run are compared (5 minutes of a
30-minute run):

    no errors        every request got a 201
    nothing lost     every 201's order is in the database, decided and delivered at the end
    memory           each process's resident memory in the last window <= 1.1 x the first's
    throughput       orders decided per second in the last window >= 0.9 x the first's
    latency          POST /order's p99 in the last window <= 1.2 x the first's
    connections      the most connections held in the last window <= what the configuration
                     may hold at once (web slots and probe lanes, the worker, beat)

Writes artifacts/soak.json, soak.md and soak.png (throughput, p99, memory and connections over
time). Fresh databases on ORDERS_DATABASE_URL's / PAYMENTS_DATABASE_URL's server, as make bench.
Stopped early (Ctrl-C, SIGTERM), it still stops the stack, drops its databases and puts the
server's autovacuum setting back.
"""

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import budget
import loads
import open_loop
import psycopg
from autovacuum import autovacuum_on
from data import Database
from open_loop import Phase
from stack import ROOT, Stack, children, cmdline, fresh_database
from warm_up import WarmUp

MEMORY_GROWTH = 1.10
CAPACITY_DECIDED_TIMEOUT = 120
# What --enforce correctness fails on (CI's short run on a shared machine): what a slow or busy
# machine cannot excuse. Memory, throughput and p99 over 30 s windows are reported, not judged.
CORRECTNESS_TARGETS = ("nothing_lost", "connections", "no_server_errors")
THROUGHPUT_KEPT = 0.90
P99_GROWTH = 1.20
TABLES = ("orders_order", "orders_orderstatechange", "payments_payment")

STATS_SQL = """
SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup,
       autovacuum_count, autoanalyze_count
FROM pg_stat_user_tables WHERE relname = ANY(%s)
"""
# Both services' databases, whoever holds the connection (web threads, the worker, beat).
CONNECTIONS_SQL = (
    "SELECT datname, count(*) FROM pg_stat_activity WHERE datname = ANY(%s) GROUP BY 1"
)
# How far behind reconciliation compares Payments' changes (orders/reconciliation.py): reported,
# not a target; a lag that keeps growing means it reads fewer changes a run than Payments makes.
RECONCILIATION_LAG_SQL = (
    "SELECT extract(epoch FROM now() - checked_up_to) FROM orders_reconciliationcheckpoint"
)
BACKLOG_SQL = """
SELECT count(*) FILTER (WHERE state = 'created'), count(*) FILTER (WHERE state = 'confirmed')
FROM orders_order WHERE state IN ('created', 'confirmed')
"""


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def process_name(pid: int, parent: int) -> str:
    """What a process of the stack is, from its command line, its parent's and its directory."""
    command = cmdline(pid)
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    service = "orders" if cwd.endswith("orders_project") else "payments"
    if "servicekit.webserver" in command:
        # granian's workers run the same command line as the main process that started them.
        kind = "worker" if "servicekit.webserver" in cmdline(parent) else "main"
        return f"{service} web {kind}"
    if " beat" in command:
        return "celery beat"
    if " worker" in command:
        return "celery worker"
    if "redis" in command:
        return "redis"
    if "run_local.py" in command:
        return "launcher"
    return command.split(" ")[0].rsplit("/", 1)[-1] or "?"


def process_tree(root: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of `root` and every process under it."""
    found, todo = [], [(root, 0)]
    while todo:
        pid, parent = todo.pop()
        found.append((pid, parent))
        todo.extend((child, pid) for child in children(pid))
    return found


class Sampler:
    """Samples the stack while the sender runs; one row per sample."""

    def __init__(self, stack: Stack, run: open_loop.Run, databases: list[str]):
        self.stack, self.run, self.databases = stack, run, databases
        self.rows: list[dict] = []
        self.names: dict[int, str] = {}
        self.seen = 0  # outcomes already counted
        self.decided_before = 0
        self.orders = psycopg.connect(stack.orders_db, autocommit=True)
        self.payments = psycopg.connect(stack.payments_db, autocommit=True)

    def sample(self, elapsed: float, span: float) -> dict:
        new = self.run.outcomes[self.seen :]
        self.seen += len(new)
        answered = [o.latency_ms for o in new if o.status is not None]
        created, waiting = self.orders.execute(BACKLOG_SQL).fetchone()
        accepted = sum(1 for o in self.run.outcomes[: self.seen] if o.status == 201)
        decided = accepted - created
        memory = {}
        for pid, parent in process_tree(self.stack.process.pid):
            if pid not in self.names:
                self.names[pid] = process_name(pid, parent)
            if (kb := rss_kb(pid)) is not None:
                memory[f"{self.names[pid]} {pid}"] = kb
        connections = dict(self.orders.execute(CONNECTIONS_SQL, [self.databases]).fetchall())
        lag = self.orders.execute(RECONCILIATION_LAG_SQL).fetchone()
        tables = {}
        for conn in (self.orders, self.payments):
            for name, size, live, dead, vacuums, analyzes in conn.execute(
                STATS_SQL, [list(TABLES)]
            ).fetchall():
                tables[name] = {
                    "bytes": size,
                    "live": live,
                    "dead": dead,
                    "autovacuums": vacuums,
                    "autoanalyzes": analyzes,
                }
        row = {
            "t": elapsed,
            "answered": len(answered),
            "created_201": sum(1 for o in new if o.status == 201),
            "errors": sum(1 for o in new if o.status != 201),
            "p50_ms": loads.percentile(answered, 50),
            "p99_ms": loads.percentile(answered, 99),
            "latencies": answered,  # dropped before writing; the windows' percentiles use them
            "decided_per_s": (decided - self.decided_before) / span if span else 0.0,
            "awaiting_payment": created,
            "awaiting_delivery": waiting,
            "rss_kb": memory,
            "connections": sum(connections.values()),
            "connections_by_db": connections,
            "reconciliation_lag_s": float(lag[0]) if lag and lag[0] is not None else None,
            "tables": tables,
        }
        self.decided_before = decided
        self.rows.append(row)
        return row

    def close(self) -> None:
        self.orders.close()
        self.payments.close()


def window(rows: list[dict], start: float, end: float) -> list[dict]:
    return [r for r in rows if start <= r["t"] < end]


def connection_ceiling() -> int:
    """The most connections the configuration may hold at once: both services' web slots and
    probe lanes (servicekit/admission.py), the worker's threads, beat, and the soak's own two."""
    _, workers, threads = budget.web_size()
    _, concurrency = budget.celery_size(dict(os.environ))
    return 2 * workers * (threads + 1) + concurrency + 1 + 2


def verdicts(
    rows: list[dict], seconds: float, outcomes, end_state: dict, ceiling: int
) -> tuple[dict, dict]:
    """Each target, the first and the last window's numbers, and whether it holds."""
    sixth = seconds / 6
    first, last = window(rows, 0, sixth), window(rows, seconds - sixth, seconds + 1)

    def p99(part):
        return loads.percentile([v for r in part for v in r["latencies"]], 99)

    def rate(part):
        return sum(r["decided_per_s"] for r in part) / len(part) if part else float("nan")

    memory = {}
    for name in {n for r in first for n in r["rss_kb"]} & {n for r in last for n in r["rss_kb"]}:
        before = max(r["rss_kb"].get(name, 0) for r in first)
        after = max(r["rss_kb"].get(name, 0) for r in last)
        memory[name] = {
            "first_mib": before / 1024,
            "last_mib": after / 1024,
            "growth": after / before if before else float("nan"),
        }
    errors = sum(1 for o in outcomes if o.status != 201)
    kinds: dict[str, int] = {}
    for o in outcomes:
        if o.status != 201:
            kind = o.error or f"{o.status} {o.code}".strip()
            kinds[kind] = kinds.get(kind, 0) + 1
    targets = {
        "no_errors": {
            "errors": errors,
            "kinds": kinds,
            "requests": len(outcomes),
            "ok": errors == 0,
        },
        # 5xx other than the admission gate's fast 503: a failure, however busy the machine. (No
        # answer at all, status None, is counted among the errors above, not here.)
        "no_server_errors": {
            "errors": sum(
                1
                for o in outcomes
                if (o.status or 0) >= 500 and not (o.status == 503 and o.retry_after)
            ),
        },
        "nothing_lost": {**end_state, "ok": end_state["ok"]},
        "memory": {
            "processes": memory,
            "ok": bool(memory) and all(m["growth"] <= MEMORY_GROWTH for m in memory.values()),
        },
        "throughput": {
            "first_per_s": rate(first),
            "last_per_s": rate(last),
            "ok": rate(last) >= THROUGHPUT_KEPT * rate(first),
        },
        "latency": {
            "first_p99_ms": p99(first),
            "last_p99_ms": p99(last),
            "ok": p99(last) <= P99_GROWTH * p99(first),
        },
        # Against what the configuration may hold, not the first window's count: a slot opens
        # its connection when a burst first needs it, which a short run's first window may not
        # have seen. A leak keeps growing past the ceiling; the budget reached stays flat.
        "connections": {
            "first_max": max((r["connections"] for r in first), default=0),
            "last_max": max((r["connections"] for r in last), default=0),
            "ceiling": ceiling,
        },
    }
    targets["no_server_errors"]["ok"] = targets["no_server_errors"]["errors"] == 0
    conns = targets["connections"]
    conns["ok"] = conns["last_max"] <= ceiling
    lags = [r["reconciliation_lag_s"] for r in last if r["reconciliation_lag_s"] is not None]
    result_info = {"reconciliation_lag_last_s": max(lags) if lags else None}
    return targets, result_info


def end_state(db: Database, numbers: list[str], timeout: float) -> dict:
    """After the sender stopped: wait until no order is `created` (decided) nor `confirmed`
    (delivered), then check every 201's number is in the table, decided and delivered."""
    decided = db.wait_until_none_since(0, "created", timeout=timeout)
    delivered = db.wait_until_none_since(0, "confirmed", timeout=timeout)
    states: dict[str, int] = {}
    for i in range(0, len(numbers), 10_000):
        for state, count in db.states(numbers[i : i + 10_000]).items():
            states[state] = states.get(state, 0) + count
    found = sum(states.values())
    settled = states.get("delivered", 0) + states.get("cancelled", 0)
    return {
        "accepted": len(numbers),
        "found": found,
        "states": states,
        "ok": decided and delivered and found == len(numbers) == settled,
    }


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["t"] / 60 for r in rows]
    fig, axes = plt.subplots(5, 1, figsize=(10, 14), sharex=True)
    axes[0].plot(minutes, [r["decided_per_s"] for r in rows], label="orders decided/s")
    axes[0].plot(
        minutes,
        [r["created_201"] / r["span"] if r["span"] else 0 for r in rows],
        label="201s/s",
        alpha=0.6,
    )
    axes[0].set_ylabel("per second")
    axes[1].plot(minutes, [r["p99_ms"] for r in rows], label="POST /order p99")
    axes[1].plot(minutes, [r["p50_ms"] for r in rows], label="p50", alpha=0.6)
    axes[1].set_ylabel("ms")
    names = sorted({n for r in rows for n in r["rss_kb"]})
    for name in names:
        mib = [r["rss_kb"].get(name, float("nan")) / 1024 for r in rows]
        axes[2].plot(minutes, mib, label=name)
    axes[2].set_ylabel("RSS, MiB")
    axes[3].plot(minutes, [r["connections"] for r in rows], label="PostgreSQL connections")
    axes[3].set_ylabel("connections")
    axes[3].set_ylim(bottom=0)
    for table in TABLES:
        axes[4].plot(
            minutes,
            [r["tables"].get(table, {}).get("dead", float("nan")) for r in rows],
            label=f"{table} dead tuples",
        )
    axes[4].set_ylabel("dead tuples")
    axes[4].set_xlabel("minutes")
    for axis in axes:
        axis.legend(fontsize=7, loc="upper left")
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(result: dict) -> str:
    t = result["targets"]
    lines = [
        f"# make soak — {result['started']}, {result['minutes']:g} min at "
        f"{result['rate']:.0f} orders/s (capacity {result['capacity']:.0f}/s, the median of "
        f"{', '.join(f'{rps:.0f}' for rps in result.get('capacity_runs', [result['capacity']]))})",
        "",
        f"{os.cpu_count()} CPUs, load average {result['load_start']} at start, "
        f"{result['load_end']} at the end · PostgreSQL's autovacuum "
        f"{result.get('autovacuum', 'not recorded')} · first and last window: "
        f"{result['window_s']:.0f} s each",
        "",
        warm_up_line(result.get("warm_up")),
        "",
        "| Target | First window | Last window | Met |",
        "|---|---|---|---|",
        f"| No errors | {t['no_errors']['requests']} requests | {t['no_errors']['errors']} "
        f"not 201 {t['no_errors']['kinds'] or ''} | {yes(t['no_errors']['ok'])} |",
        f"| No 5xx but the gate's 503 with Retry-After | | "
        f"{t['no_server_errors']['errors']} | {yes(t['no_server_errors']['ok'])} |",
        f"| Nothing lost: every 201 decided and delivered | {t['nothing_lost']['accepted']} "
        f"201s | {t['nothing_lost']['found']} found, {t['nothing_lost']['states']} | "
        f"{yes(t['nothing_lost']['ok'])} |",
        f"| Throughput (decided/s), last >= 0.9 x first | {t['throughput']['first_per_s']:.0f} "
        f"| {t['throughput']['last_per_s']:.0f} | {yes(t['throughput']['ok'])} |",
        f"| POST /order p99, last <= 1.2 x first | {t['latency']['first_p99_ms']:.1f} ms | "
        f"{t['latency']['last_p99_ms']:.1f} ms | {yes(t['latency']['ok'])} |",
        f"| PostgreSQL connections, last window's max <= the configuration's "
        f"{t['connections']['ceiling']} | {t['connections']['first_max']} | "
        f"{t['connections']['last_max']} | "
        f"{yes(t['connections']['ok'])} |",
    ]
    for name, m in sorted(t["memory"]["processes"].items()):
        lines.append(
            f"| RSS of {name}, last <= 1.1 x first | {m['first_mib']:.0f} MiB | "
            f"{m['last_mib']:.0f} MiB (x{m['growth']:.2f}) | {yes(m['growth'] <= MEMORY_GROWTH)} |"
        )
    lag = result["info"]["reconciliation_lag_last_s"]
    judged_on = "every target"
    if result["enforced"] == "correctness":
        judged_on = "judged on " + ", ".join(CORRECTNESS_TARGETS)
    lines += [
        "",
        f"Reconciliation's lag in the last window (information): "
        f"{'n/a' if lag is None else f'{lag:.0f} s'}.",
        "",
        f"Verdict ({judged_on}): **{'pass' if result['ok'] else 'FAIL'}**",
        "",
    ]
    return "\n".join(lines)


def warm_up_line(warm_up: dict | None) -> str:
    if warm_up is None:
        return "Warm-up: not recorded."
    spent = ", ".join(f"{name} {ms:.0f} ms" for name, ms in sorted(warm_up["cpu_ms"].items()))
    if warm_up["reached_every_worker"]:
        return f"Warm-up: every web worker served before the first window (CPU: {spent})."
    return (
        f"Warm-up: **not every web worker served before the first window** (CPU: {spent}); "
        "a worker's first requests may show as memory growth."
    )


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def measure_capacity(url: str, db: Database, workdir: Path, seconds: int, runs: int) -> list[float]:
    """The orders the whole system decides a second with POST /order saturated, as make bench's
    pipeline line measures it (wrk at 16 connections, then the wait until every order of the run
    is decided: accepted orders / (the last decision - the first POST)), in each of `runs` runs;
    their median is the capacity. Three runs: one 10 s figure moves by up to 40 % on a shared
    machine."""
    env = {"BENCH_NUMBERS": str(workdir / "none.txt")}
    loads.wrk(url, "post_order.lua", connections=16, seconds=2, env=env)  # warm-up
    figures = []
    for _ in range(runs):
        db.wait_until_none_since(0, "created", timeout=CAPACITY_DECIDED_TIMEOUT)
        after = db.max_order_id()
        posted = loads.wrk(url, "post_order.lua", connections=16, seconds=seconds, env=env)
        if not db.wait_until_none_since(after, "created", timeout=CAPACITY_DECIDED_TIMEOUT):
            raise RuntimeError(f"orders still undecided {CAPACITY_DECIDED_TIMEOUT} s after wrk")
        run = db.run_orders(after)
        span = (run["last_decision"] - run["first_created"]).total_seconds()
        figures.append(run["count"] / span)
        log(f"capacity run: POST {posted['rps']:.0f}/s, decided {figures[-1]:.0f}/s")
    return figures


def warm_up(stack: Stack) -> dict:
    """Every web worker serves before the first window (warm_up.py): what each spent doing it."""
    workers = {
        pid: name
        for pid, parent in process_tree(stack.process.pid)
        if (name := process_name(pid, parent)).endswith("web worker")
    }
    token = os.environ.get("PAYMENTS_API_TOKEN") or "local-payments-token"  # the local default
    payments_url = f"http://127.0.0.1:{stack.payments_port}"
    warming = WarmUp(workers, stack.orders_url, payments_url, token)
    reached = warming.run(log)
    return {
        "reached_every_worker": reached,
        "cpu_ms": {f"{name} {pid}": warming.served(pid) * 1000 for pid, name in workers.items()},
        "numbers": warming.numbers,
    }


def soak(args) -> dict:
    started = time.monotonic()
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "minutes": args.minutes,
        "load_start": Path("/proc/loadavg").read_text().split()[0],
    }
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        fresh_database(os.environ.get("ORDERS_DATABASE_URL"), "soak_orders") as orders_db,
        fresh_database(os.environ.get("PAYMENTS_DATABASE_URL"), "soak_payments") as pay_db,
        autovacuum_on(orders_db, change_server=not args.leave_autovacuum, log=log) as vacuum,
    ):
        result["autovacuum"] = vacuum
        workdir = Path(tmp)
        # One run, nothing retired in the middle of it: the re-drive sweep runs as deployed.
        stack = Stack(
            workdir, orders_db, pay_db, os.environ.get("REDIS_URL"), retired_between_runs=False
        )
        log("starting the stack")
        stack.start()
        try:
            db = Database(orders_db)
            figures = (
                [args.capacity]
                if args.capacity
                else measure_capacity(
                    stack.orders_url, db, workdir, args.capacity_seconds, args.capacity_runs
                )
            )
            capacity = statistics.median(figures)
            result["capacity_runs"] = figures
            warmed = warm_up(stack)
            result["warm_up"] = {k: v for k, v in warmed.items() if k != "numbers"}
            rate = capacity * args.load
            seconds = args.minutes * 60
            log(f"capacity {capacity:.0f} orders/s: sending {rate:.0f}/s for {seconds:.0f} s")
            result.update(capacity=capacity, rate=rate, window_s=seconds / 6)
            run = open_loop.send_in_background(stack.orders_url, [Phase(seconds, rate)])
            databases = [orders_db.rpartition("/")[2], pay_db.rpartition("/")[2]]
            sampler = Sampler(stack, run, databases)
            last = time.monotonic()
            while not run.done.wait(args.sample_seconds):
                now = time.monotonic()
                row = sampler.sample(now - run.started, now - last)
                row["span"] = now - last
                last = now
                if len(sampler.rows) % max(1, int(60 / args.sample_seconds)) == 0:
                    log(
                        f"{row['t'] / 60:.1f} min: decided {row['decided_per_s']:.0f}/s, p99 "
                        f"{row['p99_ms']:.0f} ms, {row['errors']} errors, "
                        f"{row['connections']} connections, waiting {row['awaiting_payment']}"
                    )
            sampler.close()
            numbers = warmed["numbers"] + [o.number for o in run.outcomes if o.number]
            settled = end_state(db, numbers, timeout=args.settle_timeout)
            result["targets"], result["info"] = verdicts(
                sampler.rows, seconds, run.outcomes, settled, connection_ceiling()
            )
            result["samples"] = [
                {k: v for k, v in r.items() if k != "latencies"} for r in sampler.rows
            ]
            plot(
                sampler.rows,
                args.out.with_suffix(".png"),
                f"make soak: {args.minutes:g} min at {rate:.0f} orders/s",
            )
        except BaseException:
            log(f"failed; the stack's log ends with:\n{stack.log_tail()}")
            raise
        finally:
            stack.stop()
    judged = CORRECTNESS_TARGETS if args.enforce == "correctness" else result["targets"]
    result["enforced"] = args.enforce
    result["ok"] = all(result["targets"][name]["ok"] for name in judged)
    result["load_end"] = Path("/proc/loadavg").read_text().split()[0]
    result["elapsed_s"] = time.monotonic() - started
    return result


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES") or 30)
    )
    parser.add_argument(
        "--capacity", type=float, help="POST /order's capacity, orders/s (default: measured)"
    )
    parser.add_argument("--capacity-seconds", type=int, default=10, help="each wrk run's length")
    parser.add_argument(
        "--capacity-runs", type=int, default=3, help="wrk runs; their median is the capacity"
    )
    parser.add_argument("--load", type=float, default=0.5, help="the rate, as a share of capacity")
    parser.add_argument("--sample-seconds", type=float, default=5)
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=120,
        help="longest wait at the end for the last orders to be decided, then delivered",
    )
    parser.add_argument(
        "--enforce",
        choices=("all", "correctness"),
        default="all",
        help="which targets fail the run: all, or only " + ", ".join(CORRECTNESS_TARGETS),
    )
    parser.add_argument(
        "--leave-autovacuum",
        action="store_true",
        help="run with PostgreSQL's autovacuum as the server has it (default: on for the run)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "soak.md")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # SIGTERM ends the run as Ctrl-C does: through every `finally`, so that the stack is stopped,
    # the databases dropped and the server's autovacuum setting put back.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    result = soak(args)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    table = markdown(result)
    args.out.write_text(table)
    print(table)
    log(f"done in {result['elapsed_s']:.0f}s; {args.out} (and .json, .png)")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
