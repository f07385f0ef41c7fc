#!/usr/bin/env python3
"""CPU time per order, by process, on the stack `make bench` runs: where an order's cost goes.

Starts the same stack as run_bench.py (fresh PostgreSQL databases, a private Redis, both
gunicorn servers, the Celery worker and beat), loads POST /order with wrk at 16 connections,
waits until every order of the run has had its payment decided and has been delivered (read
from orders_order, so whatever carries the payments: per-order tasks or batches), and divides
each process group's CPU time (utime + stime from /proc/<pid>/stat) by the number of orders the
run created. docs/performance.md has its before and after. A process that starts and ends
within the run is not seen (PostgreSQL's backends for short-lived connections, say), so a total
is a lower bound; CPU spent idle during the wait (beat, the sweeps' ticks) is counted in.

    .venv/bin/python tests/bench/cpu_per_order.py [--seconds 8]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import loads
from data import Broker, Database
from stack import DELIVERY_DELAY_SECONDS, Stack, _children, _cmdline, fresh_database

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants(root: int) -> set[int]:
    """`root` and every process under it."""
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(_children(pid))
    return found


def group_of(pid: int, databases: tuple[str, ...], ours: set[int]) -> str | None:
    """The stack's own processes only: on a shared machine other stacks run gunicorn, Celery and
    PostgreSQL backends too, and must not be counted."""
    command = _cmdline(pid)
    if command.startswith("postgres") and any(f" {name} " in command for name in databases):
        return "PostgreSQL backends"
    if pid not in ours:
        return None
    if "redis-server" in command:
        return "Redis"
    if "gunicorn" in command:
        try:
            directory = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        return "Orders gunicorn" if "orders_project" in directory else "Payments gunicorn"
    if "celery" in command:
        return "Celery worker" if " worker" in command else "Celery beat"
    return None


def snapshot(stack: Stack, databases: tuple[str, ...]) -> dict[tuple[str, int], float]:
    ours = descendants(stack.process.pid)
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return {
        (group, pid): cpu_seconds(pid) for pid in pids if (group := group_of(pid, databases, ours))
    }


def settle(db: Database, after_id: int) -> tuple[bool, bool]:
    """Wait until the orders since `after_id` are decided, then delivered; whether each was."""
    decided = db.wait_until_none_since(after_id, "created", timeout=60)
    delivered = db.wait_until_none_since(after_id, "confirmed", timeout=DELIVERY_DELAY_SECONDS + 10)
    return decided, delivered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of the wrk run")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        fresh_database(os.environ.get("ORDERS_DATABASE_URL"), "bench_orders") as orders_db,
        fresh_database(os.environ.get("PAYMENTS_DATABASE_URL"), "bench_payments") as pay_db,
    ):
        stack = Stack(Path(tmp), orders_db, pay_db, os.environ.get("REDIS_URL"))
        stack.start()
        try:
            broker, db = Broker(stack.redis_url), Database(orders_db)
            loads.wrk(stack.orders_url, "post_order.lua", connections=16, seconds=2)  # warm-up
            settle(db, 0)
            first_id = db.max_order_id()
            databases = tuple(url.rpartition("/")[2] for url in (orders_db, pay_db))
            before = snapshot(stack, databases)
            run = loads.wrk(
                stack.orders_url, "post_order.lua", connections=16, seconds=args.seconds
            )
            decided, delivered = settle(db, first_id)
            time.sleep(1)  # the last task or sweep in flight
            after = snapshot(stack, databases)
            created = db.run_orders(first_id)
            orders, left = created["count"], created["created"]
            queued = broker.backlog()
        finally:
            stack.stop()
    spent: dict[str, float] = {}
    for (group, pid), seconds in after.items():
        spent[group] = spent.get(group, 0.0) + seconds - before.get((group, pid), 0.0)
    print(
        f"POST /order at 16 connections: {run['rps']:.0f} req/s, {orders} orders created"
        + ("" if decided else f" ({left} still `created` after 60 s, {queued} tasks queued)")
        + ("" if delivered else " (not all delivered in time)")
    )
    for group, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {group:22} {1000 * seconds / orders:6.2f} ms CPU per order")
    print(f"  {'total':22} {1000 * sum(spent.values()) / orders:6.2f} ms CPU per order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
