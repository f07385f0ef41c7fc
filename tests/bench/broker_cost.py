#!/usr/bin/env python3
"""CPU per task on the broker path, with kombu's own Redis transport and with config/broker.py.

Each round runs one process per transport, alternated: it publishes `--tasks` payment tasks as
the charger's wake-up does (a task `.delay`, through Celery's producer pool), then takes and
acknowledges them as the worker does with acks_late, and prints the CPU time (process_time) of
each half per task. The medians of the rounds are the result; docs/performance.md has them.
It uses a database of REDIS_URL's server (default: the machine's Redis, database 14), which it
empties before and after.

    .venv/bin/python tests/bench/broker_cost.py [--rounds 6] [--tasks 1000]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSPORTS = {"kombu": "redis", "config.broker": "config.broker:Transport"}


def measure(transport: str, tasks: int) -> tuple[float, float]:
    """In a fresh process (one transport per process): µs of CPU per publish, per take + ack."""
    import django
    from django.conf import settings

    django.setup()
    settings.CELERY_BROKER_TRANSPORT = transport  # before the Celery app reads its settings
    import redis

    from config.celery_app import app
    from orders.tasks import charge_orders

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    for _ in range(50):  # the producer pool, the connection, the queue declaration
        charge_orders.delay(["warmup00"])
    started = time.process_time()
    for _ in range(tasks):
        charge_orders.delay(["abcdefgh"])
    publish = (time.process_time() - started) / tasks
    taken = []
    with app.connection_for_read() as conn:
        queue = app.amqp.queues[app.conf.task_default_queue]
        with conn.Consumer(queue, callbacks=[lambda body, msg: taken.append(msg)], accept=["json"]):
            started = time.process_time()
            while len(taken) < tasks + 50:
                conn.drain_events(timeout=5)
            for message in taken:
                message.ack()
            take = (time.process_time() - started) / len(taken)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    return publish * 1e6, take * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--measure", choices=TRANSPORTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        publish, take = measure(TRANSPORTS[args.measure], args.tasks)
        print(f"{publish:.1f} {take:.1f}")
        return 0

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "PYTHONPATH": str(ROOT / "orders_project"),
        "LOG_LEVEL": "WARNING",
    }
    results = {name: [] for name in TRANSPORTS}
    for _ in range(args.rounds):
        for name in TRANSPORTS:
            command = [sys.executable, __file__, "--measure", name, "--tasks", str(args.tasks)]
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            results[name].append(tuple(map(float, output.stdout.split()[-2:])))
    print(f"CPU per task, median of {args.rounds} alternated rounds of {args.tasks} tasks")
    print(f"{'transport':<15}{'publish µs':>12}{'take + ack µs':>15}")
    for name, rounds in results.items():
        publish = statistics.median(p for p, _ in rounds)
        take = statistics.median(t for _, t in rounds)
        print(f"{name:<15}{publish:>12.0f}{take:>15.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
