"""The overload phase: open-loop POST /order at half the capacity, then at three times it, then at
half again, in one run (the backlog carries over, as it would). Its targets: every request gets
an answer within 2 s, a 201 or a fast 503 with Retry-After in the JSON error shape, never a
timeout or a dropped connection; every order that got a 201 is in the database and is decided;
after the overload, p99 is back to normal within 10 s."""

import loads
import open_loop
from open_loop import Phase

ANSWER_WITHIN_MS = 2000
RECOVERY_SECONDS = 10
# "Back to normal": the p99 of what is due from RECOVERY_SECONDS after the overload on, against
# the p99 before it; the slack allows for a shared machine's noise on short windows.
NORMAL_P99_SLACK = 1.5


def capacity(bench, seconds: int = 5) -> float:
    """POST /order's closed-loop throughput, wrk at 16 connections as the writes phase runs it."""
    bench.warm_up()
    bench.settle()
    measured = bench.wrk("post_order.lua", 16, seconds=seconds)["rps"]
    bench.settle()
    return measured


def overload(bench, capacity_rps: float, *, seconds: float, factor: float = 3) -> dict:
    bench.warm_up()
    bench.settle()
    normal = capacity_rps / 2
    calm = max(10.0, 2 * RECOVERY_SECONDS)
    phases = [
        Phase(calm / 2, normal, "before"),
        Phase(seconds, capacity_rps * factor, "overload"),
        Phase(calm, normal, "after"),
    ]
    loads.log(
        f"overload: {normal:.0f}/s for {calm / 2:.0f}s, {capacity_rps * factor:.0f}/s for "
        f"{seconds:.0f}s, {normal:.0f}/s for {calm:.0f}s"
    )
    run = open_loop.send(bench.url, phases)
    before_end, overload_end = calm / 2, calm / 2 + seconds
    outcomes = run.outcomes
    parts = {
        "before": [o for o in outcomes if o.due < before_end],
        "overload": [o for o in outcomes if before_end <= o.due < overload_end],
        "after": [o for o in outcomes if o.due >= overload_end],
        "recovered": [o for o in outcomes if o.due >= overload_end + RECOVERY_SECONDS],
    }
    summary = {
        name: open_loop.summarize(part, answer_within_ms=ANSWER_WITHIN_MS)
        for name, part in parts.items()
    }
    total = open_loop.summarize(outcomes, answer_within_ms=ANSWER_WITHIN_MS)
    numbers = [o.number for o in outcomes if o.number]
    found = bench.db.states(numbers) if numbers else {}
    decided = bench.db.wait_until_none(numbers, "created", timeout=bench.args.pipeline_timeout)
    states = bench.db.states(numbers) if numbers else {}
    bad_answers = total["requests"] - total["created"] - total["shed_well_formed"]
    result = {
        "capacity_rps": capacity_rps,
        "rate_normal": normal,
        "rate_overload": capacity_rps * factor,
        "seconds": seconds,
        "parts": summary,
        "total": total,
        "by_second": open_loop.by_second(outcomes),
        "created_found": sum(found.values()),
        "states": states,
        "decided": int(decided),
        "targets": {
            # Every request answered in time, with a 201 or a well-formed 503.
            "answered_in_time": total["slow"] == 0 and total["no_answer"] == 0,
            "only_201_or_503": bad_answers == 0,
            "nothing_lost": sum(found.values()) == len(numbers) and decided,
            "p99_recovered": summary["recovered"]["p99_ms"]
            <= NORMAL_P99_SLACK * summary["before"]["p99_ms"],
        },
    }
    loads.log(
        "overload: "
        + "; ".join(
            f"{name}: {s['requests']} sent, {s['created']} 201, {s['shed']} 503, "
            f"{s['no_answer']} unanswered {s['by_error']}, {s['slow']} over 2 s, "
            f"p99 {s['p99_ms']:.0f} ms (201s {s['created_p99_ms']:.0f}, 503s "
            f"{s['shed_p99_ms']:.0f}), sender late p99 {s['late_p99_ms']:.0f} ms, "
            f"{s['new_connections']} new connections"
            for name, s in summary.items()
        )
    )
    loads.log(f"overload targets: {result['targets']}")
    return result
