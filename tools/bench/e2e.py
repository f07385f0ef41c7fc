"""End to end, from the database's clocks: open-loop POSTs at a fixed rate, then for each order
created -> payment decision (confirmed/cancelled), and confirmed -> delivered against its due
time (the delivery lag)."""

import loads
from stack import DELIVERY_DELAY_SECONDS


def end_to_end(bench, rate: float, seconds: float) -> dict:
    """Open-loop POSTs at `rate`, then from the database: created -> confirmed/cancelled,
    and confirmed -> delivered against the due time. Each run waits (up to
    --settle-timeout) until its orders have settled, so that the next one starts on an
    empty queue; medians of the runs' percentiles, sums of the counts."""
    bench.warm_up()
    runs = [end_to_end_run(bench, rate, seconds) for _ in range(bench.args.runs)]
    total = {k: sum(r[k] for r in runs) for k in ("sent", "errors", "e2e_count", "lag_count")}
    states: dict[str, int] = {}
    for r in runs:
        for state, count in r["states"].items():
            states[state] = states.get(state, 0) + count
    return {
        **loads.summarize(runs),
        **total,
        "states": states,
        "rate": rate,
        "seconds": seconds,
    }


def end_to_end_run(bench, rate: float, seconds: float) -> dict:
    bench.settle()
    sent = loads.open_loop_posts(bench.url, rate=rate, seconds=seconds)
    numbers = sent.pop("numbers")
    settle = bench.args.settle_timeout
    settled = bench.db.wait_until_none(numbers, "created", timeout=settle)
    # A lag past 10 s fails its target by far; waiting longer would only stretch the run.
    delivered = bench.db.wait_until_none(numbers, "confirmed", timeout=DELIVERY_DELAY_SECONDS + 10)
    journeys = bench.db.journeys(numbers)
    to_outcome = [
        (paid - created).total_seconds() * 1000 for _, _, created, _, paid, _ in journeys if paid
    ]
    lags = [
        (dlv - paid).total_seconds() * 1000 - DELIVERY_DELAY_SECONDS * 1000
        for _, _, _, outcome, paid, dlv in journeys
        if outcome == "confirmed" and dlv
    ]
    result = {
        **sent,
        "states": bench.db.states(numbers),
        "settled": int(settled),
        "all_delivered": int(delivered),
        "e2e_p50_ms": loads.percentile(to_outcome, 50),
        "e2e_p99_ms": loads.percentile(to_outcome, 99),
        "e2e_count": len(to_outcome),
        "lag_p50_ms": loads.percentile(lags, 50),
        "lag_p99_ms": loads.percentile(lags, 99),
        "lag_count": len(lags),
    }
    loads.log(
        f"end to end at {rate:.0f}/s for {seconds:.0f}s: {result['sent']} sent, "
        f"{len(to_outcome)} settled, p99 {result['e2e_p99_ms']:.0f} ms, "
        f"delivery lag p99 {result['lag_p99_ms']:.0f} ms"
    )
    return result
