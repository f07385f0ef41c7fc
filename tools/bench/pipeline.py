"""The pipeline phase: how fast the whole system takes orders and decides them, against the bare
SQL of taking one. Rounds of: wrk on POST /order at 16 connections with everything running, the
wait until every order of the run is decided (then delivered), the CPU each process spent on
them; then pgbench of the intake transaction (order_create.pgbench) at 16 clients. Each ratio is
taken round by round, so that the shared machine's drift hits both sides alike.

Each round also runs the same load with one webhook subscription active (nginx answering 204,
tools/bench/null_receiver.py), right before or after the run without (alternating), and reports
its rates over those of the run without: the cost of webhooks. The receiver's CPU is reported
beside the stack's, not in it: a real one runs elsewhere."""

import statistics
import time
from datetime import UTC, datetime

import cpu
import loads
from null_receiver import null_receiving
from stack import DELIVERY_DELAY_SECONDS

# How long every process takes to see a subscription turned on or off: the bench stack's
# ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS, and a margin.
SUBSCRIPTION_SEEN_SECONDS = 1.5
WEBHOOKS_DRAINED_TIMEOUT = 120

CONNECTIONS = 16


def seconds_between(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return float("nan")
    return (end - start).total_seconds()


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


class Pipeline:
    def __init__(self, bench):
        self.bench, self.args, self.db = bench, bench.args, bench.db
        stack = bench.stack
        self.databases = tuple(
            url.rpartition("/")[2] for url in (stack.orders_db, stack.payments_db)
        )

    def measure(self) -> dict:
        with null_receiving() as receiver:
            self.receiver = receiver
            self.bench.stack.manage("webhooks", "add", receiver.url, "--description", "bench")
            self.subscribed(False)
            return self._measure()

    def subscribed(self, active: bool) -> None:
        self.db.webhooks_active(active)
        time.sleep(SUBSCRIPTION_SEEN_SECONDS)

    def with_webhooks(self) -> dict:
        """A pipeline run with the subscription active, then the wait until every webhook is
        delivered (so that the next run does not pay for them)."""
        delivered_before = self.db.webhooks_delivered()
        self.subscribed(True)
        receiver_cpu_before = self.receiver.cpu_seconds()
        try:
            run = self.pipeline_run()
            started = time.monotonic()
            # Sent only while the subscription is active: the wait comes before it is off.
            drained = self.db.wait_until_no_webhook_pending(WEBHOOKS_DRAINED_TIMEOUT)
        finally:
            self.subscribed(False)
        receiver_cpu = self.receiver.cpu_seconds() - receiver_cpu_before
        run["webhooks_delivered"] = self.db.webhooks_delivered() - delivered_before
        run["receiver_cpu_us_per_webhook"] = 1e6 * receiver_cpu / max(run["webhooks_delivered"], 1)
        run["webhooks_drained_after_s"] = time.monotonic() - started
        run["webhooks_timed_out"] = int(not drained)
        return run

    def _measure(self) -> dict:
        self.bench.warm_up()
        rounds, webhook_rounds = [], []
        for run in range(self.args.runs):
            # A/B, the order alternating round by round: the machine's drift hits both alike.
            if run % 2:
                subscribed = self.with_webhooks()
                pipeline = self.pipeline_run()
            else:
                pipeline = self.pipeline_run()
                subscribed = self.with_webhooks()
            subscribed["post_vs_none"] = ratio(subscribed["post_rps"], pipeline["post_rps"])
            subscribed["decided_vs_none"] = ratio(
                subscribed["decided_per_s"], pipeline["decided_per_s"]
            )
            subscribed["cpu_vs_none"] = ratio(subscribed["cpu_ms_total"], pipeline["cpu_ms_total"])
            webhook_rounds.append(subscribed)
            loads.log(
                f"pipeline round {run + 1} with one webhook subscription: POST "
                f"{subscribed['post_rps']:.0f}/s ({subscribed['post_vs_none']:.3f} of none), "
                f"decided {subscribed['decided_per_s']:.0f}/s "
                f"({subscribed['decided_vs_none']:.3f}), CPU {subscribed['cpu_ms_total']:.2f} ms "
                f"an order ({subscribed['cpu_vs_none']:.3f}); "
                f"{subscribed['webhooks_delivered']} webhooks delivered, the last "
                f"{subscribed['webhooks_drained_after_s']:.1f} s after the orders"
            )
            intake = loads.pgbench(
                self.bench.stack.orders_db,
                clients=CONNECTIONS,
                seconds=self.args.seconds,
                workdir=self.bench.workdir,
            )
            self.bench.settle()  # pgbench's orders stay `created`: nothing may charge them
            pipeline["intake_tps"] = intake["tps"]
            pipeline["post_ratio"] = ratio(pipeline["post_rps"], intake["tps"])
            pipeline["decided_ratio"] = ratio(pipeline["decided_per_s"], intake["tps"])
            rounds.append(pipeline)
            loads.log(
                f"pipeline round {run + 1}: POST {pipeline['post_rps']:.0f}/s, decided "
                f"{pipeline['decided_per_s']:.0f}/s ({pipeline['left_created']} left created), "
                f"intake SQL {intake['tps']:.0f}/s: ratios {pipeline['post_ratio']:.3f} / "
                f"{pipeline['decided_ratio']:.3f}, CPU {pipeline['cpu_ms_total']:.2f} ms an order"
            )
        summary = loads.summarize(rounds)
        summary["cpu_ms"] = {
            group: statistics.median(r["cpu_ms"].get(group, 0.0) for r in rounds)
            for group in cpu.GROUPS
        }
        summary["webhooks"] = loads.summarize(webhook_rounds)
        return summary

    def pipeline_run(self) -> dict:
        """wrk on POST /order with everything running, then the wait until no order of the run
        is `created` (decided per second: accepted orders ÷ (the last decision - the first
        POST)), then until none is `confirmed`; the CPU of every process of the stack, from
        the first POST until they are delivered, ÷ the orders."""
        self.bench.settle()
        after = self.db.max_order_id()
        launcher = self.bench.stack.process.pid
        before = cpu.snapshot(launcher, self.databases)
        posted = self.bench.wrk("post_order.lua", CONNECTIONS, seconds=self.args.pipeline_seconds)
        decided = self.db.wait_until_none_since(
            after, "created", timeout=self.args.pipeline_timeout
        )
        waited_until = datetime.now(UTC)
        run = self.db.run_orders(after)
        delivered = self.db.wait_until_none_since(
            after, "confirmed", timeout=DELIVERY_DELAY_SECONDS + 10
        )
        spent = cpu.spent(before, cpu.snapshot(launcher, self.databases))
        if decided:
            span = seconds_between(run["first_created"], run["last_decision"])
            counted = run["count"]
        else:  # still waiting at the timeout: what was decided, over the whole wait
            span = seconds_between(run["first_created"], waited_until)
            counted = run["count"] - run["created"]
        orders = run["count"] or 1
        return {
            "decided_per_s": ratio(counted, span) if span > 0 else float("nan"),
            "accepted": run["count"],
            "wrk_2xx": posted["requests"] - posted["non2xx"],
            "errors": posted["errors"],
            "non2xx": posted["non2xx"],
            "socket_errors": posted["socket_errors"],
            "post_rps": posted["rps"],
            "post_p50_ms": posted["p50_ms"],
            "post_p99_ms": posted["p99_ms"],
            "left_created": run["created"],
            "timed_out": int(not decided),
            "span_s": span,
            # From the last order accepted to the last decision: how far the payments trailed.
            "trail_s": seconds_between(run["last_created"], run["last_decision"]),
            "all_delivered": int(delivered),
            "cpu_ms": {group: 1000 * seconds / orders for group, seconds in spent.items()},
            "cpu_ms_total": 1000 * sum(spent.values()) / orders,
        }
