#!/usr/bin/env python3
"""CPU time per order, by process, on the stack `make bench` runs: where an order's cost goes.

Starts the same stack as run_bench.py (fresh PostgreSQL databases, a private Redis, both
web servers, the Celery worker and beat), loads POST /order with wrk at 16 connections,
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

import cpu
import loads
from data import Broker, Database
from stack import DELIVERY_DELAY_SECONDS, Stack, fresh_database


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
            before = cpu.snapshot(stack.process.pid, databases)
            run = loads.wrk(
                stack.orders_url, "post_order.lua", connections=16, seconds=args.seconds
            )
            decided, delivered = settle(db, first_id)
            time.sleep(1)  # the last task or sweep in flight
            after = cpu.snapshot(stack.process.pid, databases)
            created = db.run_orders(first_id)
            orders, left = created["count"], created["created"]
            queued = broker.backlog()
        finally:
            stack.stop()
    spent = cpu.spent(before, after)
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
