"""The one table `make bench` prints: every measure, its target, and whether it is met."""

import math
import statistics

TARGETS = {
    "post_ratio": 0.25,
    "post_p50_ms": 15,
    "post_p99_ms": 50,
    "decided_ratio": 0.15,
    "trail_s": 10,
    "cpu_ms_total": 2.5,
    "cpu_ms_orders_web": 1.0,
    "e2e_p99_ms": 100,
    "e2e_10_p99_ms": 25,
    "lag_p99_ms": 1500,
    "growth_ratio": 1.2,
}
MEMORY_ROLES = [
    ("orders web worker child", "Orders web worker"),
    ("payments web worker child", "Payments web worker"),
    ("celery worker pool child", "Celery worker pool process"),
    ("celery worker main", "Celery worker main process"),
    ("celery beat main", "Celery beat"),
]


def ms(value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def paired(a: dict, b: dict, key: str) -> tuple[float, str]:
    """The median of the run-by-run ratios a.rps / b.key (each pair measured seconds apart,
    so the shared machine's drift cancels), and the ratios themselves."""
    ratios = [
        x["rps"] / y[key] if y[key] else float("nan")
        for x, y in zip(a["runs"], b["runs"], strict=True)
    ]
    return statistics.median(ratios), ", ".join(f"{r:.2f}" for r in ratios)


def http_cell(m: dict) -> str:
    cell = f"{m['rps']:.0f} req/s · p50 {ms(m['p50_ms'])} · p99 {ms(m['p99_ms'])} · "
    cell += f"{m['errors']:.0f} errors"
    if m["errors"]:
        cell += f" ({m['non2xx']:.0f} non-2xx, {m['socket_errors']:.0f} socket errors/timeouts)"
    return cell


def write_rows(w: dict) -> list[tuple]:
    rows = []
    for c in (16, 64):
        post = w[f"post_{c}"]
        target = "p99 ≤ 50 ms, no errors" if c == 16 else "no errors"
        ok = post["errors"] == 0 and (c != 16 or post["p99_ms"] <= TARGETS["post_p99_ms"])
        cell = f"{http_cell(post)} · {post['backlog_after']:.0f} payment tasks queued at the end"
        if "created_after" in post:
            cell += f", {post['created_after']:.0f} of its orders still `created`"
        rows.append((f"1. POST /order, {c} connections", cell, target, verdict(ok)))
    for c in (16, 64):
        rows.append(
            (
                f"2. pgbench ceiling, {c} clients",
                pgbench_cell(w[f"pgbench_{c}"], "tx/s"),
                "",
                verdict(None),
            )
        )
    for c in (16, 64):
        ratio, per_run = paired(w[f"post_{c}"], w[f"pgbench_{c}"], "tps")
        rows.append(
            (
                f"2. POST / ceiling, {c}",
                f"**{ratio:.2f}** (runs: {per_run})",
                "≥ 0.25" if c == 16 else "",
                verdict(ratio >= TARGETS["post_ratio"] if c == 16 else None),
            )
        )
    paused = w["post_paused_16"]
    ratio, per_run = paired(paused, w["pgbench_16"], "tps")
    rows.append(
        (
            "2b. Diagnostic: POST /order, 16 connections, Celery worker paused (web path alone)",
            f"{http_cell(paused)} · / ceiling **{ratio:.2f}** (runs: {per_run})",
            "",
            verdict(None),
        )
    )
    return rows


def pgbench_cell(pg: dict, unit: str) -> str:
    cell = f"{pg['tps']:.0f} {unit} · p50 {ms(pg['p50_ms'])} · p99 {ms(pg['p99_ms'])}"
    if pg["failed"]:
        cell += f" · {pg['failed']:.0f} failed"
    return cell


def status_rows(small: dict) -> list[tuple]:
    return [
        (
            f"3. `GET /order/status/<n>`, {c} connections",
            http_cell(small[f"status_{c}"]),
            "no errors",
            verdict(small[f"status_{c}"]["errors"] == 0),
        )
        for c in (16, 64)
    ]


def e2e_row(e2e: dict, label: str, target_ms: float) -> tuple:
    states = ", ".join(f"{n} {s}" for s, n in sorted(e2e["states"].items()))
    lost = e2e["sent"] - e2e["e2e_count"]
    pending = f" · **{lost} without an outcome by the deadline**" if lost else ""
    return (
        f"{label}, open loop, {len(e2e['runs'])} x {e2e['seconds']:.0f} s",
        f"p50 {ms(e2e['e2e_p50_ms'])} · p99 **{ms(e2e['e2e_p99_ms'])}** · "
        f"{e2e['sent']} sent, {e2e['e2e_count']} reached an outcome ({states}) · "
        f"POST p99 {ms(e2e['post_p99_ms'])} · sends late p99 {ms(e2e['late_p99_ms'])} · "
        f"runs' p99: {', '.join(ms(run['e2e_p99_ms']) for run in e2e['runs'])}{pending}",
        f"p99 ≤ {target_ms:.0f} ms, every order accounted for",
        verdict(lost == 0 and e2e["e2e_p99_ms"] <= target_ms),
    )


def lag_row(e2e: dict) -> tuple:
    late = e2e["states"].get("confirmed", 0)
    undelivered = f" · **{late} confirmed but not delivered by the deadline**" if late else ""
    return (
        "5. Delivery lag (delivered - confirmed - delay)",
        f"p50 {ms(e2e['lag_p50_ms'])} · p99 **{ms(e2e['lag_p99_ms'])}** · "
        f"{e2e['lag_count']} delivered{undelivered}",
        "p99 ≤ 1.5 s",
        verdict(e2e["lag_count"] > 0 and not late and e2e["lag_p99_ms"] <= TARGETS["lag_p99_ms"]),
    )


def growth_rows(small: dict, big: dict, cfg: dict) -> list[tuple]:
    rows = []
    sizes = f"{cfg['small']:,} → {cfg['big']:,}"
    for key, label in (("status_16", "status lookup"), ("list_16", "first page of GET /order/")):
        a, b = small[key], big[key]
        ratio, per_run = paired(a, b, "rps")
        rows.append(
            (
                f"6. Growth, {label}, 16 connections, {sizes} orders (alternating runs)",
                f"{a['rps']:.0f} → {b['rps']:.0f} req/s · p99 {ms(a['p99_ms'])} → "
                f"{ms(b['p99_ms'])} · time/request big÷small **{ratio:.2f}** (runs: {per_run})",
                "≤ 1.2",
                verdict(ratio <= TARGETS["growth_ratio"]),
            )
        )
    return rows


def memory_rows(memory: dict) -> list[tuple]:
    rows = []
    for role, label in MEMORY_ROLES:
        peaks = memory.get(role, {})
        if peaks:
            top = max(peaks.values()) / 1024
            rows.append(
                (
                    f"7. Peak RSS, {label}",
                    f"{top:.0f} MiB (max VmHWM of {len(peaks)} process(es) seen)",
                    "",
                    verdict(None),
                )
            )
    return rows


def runs_of(p: dict, key: str, spec: str = ".2f") -> str:
    return ", ".join(format(run[key], spec) for run in p["runs"])


def pipeline_rows(p: dict, cfg: dict) -> list[tuple]:
    """The headline: intake and decisions against the bare intake SQL, and CPU per order."""
    left, timed_out = p["left_created"], sum(run["timed_out"] for run in p["runs"])
    load = f"POST /order, 16 connections, {cfg['pipeline_seconds']} s, whole system running"
    cpu_ms = p["cpu_ms"]
    total = p["cpu_ms_total"]
    orders_web = cpu_ms.get("Orders web", float("nan"))
    by_group = " · ".join(f"{g} {v:.2f}" for g, v in cpu_ms.items() if v)
    post_ok = (
        p["post_ratio"] >= TARGETS["post_ratio"]
        and p["post_p50_ms"] <= TARGETS["post_p50_ms"]
        and p["post_p99_ms"] <= TARGETS["post_p99_ms"]
        and p["errors"] == 0
    )
    decided_ok = (
        p["decided_ratio"] >= TARGETS["decided_ratio"]
        and left == 0
        and p["trail_s"] <= TARGETS["trail_s"]
    )
    return [
        (
            f"P1. {load}",
            f"{p['post_rps']:.0f} req/s · p50 {ms(p['post_p50_ms'])} · p99 "
            f"{ms(p['post_p99_ms'])} · {p['errors']:.0f} errors · ÷ intake SQL "
            f"**{p['post_ratio']:.3f}** (rounds: {runs_of(p, 'post_ratio', '.3f')}) · intake SQL "
            f"(pgbench, 16 clients) {p['intake_tps']:.0f} tx/s",
            "≥ 0.25 x intake SQL, p50 ≤ 15 ms, p99 ≤ 50 ms, no errors",
            verdict(post_ok),
        ),
        (
            "P2. Orders decided per second (accepted ÷ (last decision - first POST)), "
            f"until none is `created` (≤ {cfg['pipeline_timeout']:.0f} s)",
            f"{p['decided_per_s']:.0f}/s · ÷ intake SQL **{p['decided_ratio']:.3f}** (rounds: "
            f"{runs_of(p, 'decided_ratio', '.3f')}) · {p['accepted']:.0f} accepted · last "
            f"decision {p['trail_s']:.1f} s after the last POST (rounds: "
            f"{runs_of(p, 'trail_s', '.1f')}) · {left} left `created`"
            f"{' (**timed out**)' if timed_out else ''}",
            "≥ 0.15 x intake SQL, none left, last decision ≤ 10 s after the last POST",
            verdict(decided_ok),
        ),
        *webhook_rows(p.get("webhooks")),
        (
            "P3. CPU per order, every process of the stack, from the first POST until delivered",
            f"**{total:.2f} ms** (rounds: {runs_of(p, 'cpu_ms_total')}) · Orders web "
            f"**{orders_web:.2f} ms** · {by_group}",
            "≤ 2.5 ms; Orders web ≤ 1.0 ms",
            verdict(
                total <= TARGETS["cpu_ms_total"] and orders_web <= TARGETS["cpu_ms_orders_web"]
            ),
        ),
    ]


def webhook_rows(w: dict | None) -> list[tuple]:
    """P1 and P2 again with one webhook subscription active, over the runs without."""
    if not w:
        return []
    worst = min(w["post_vs_none"], w["decided_vs_none"])
    drained = sum(run["webhooks_timed_out"] for run in w["runs"]) == 0
    return [
        (
            "PW. P1 and P2 with one webhook subscription active (nginx answering 204 on the "
            "same machine), each round beside a run without",
            f"POST {w['post_rps']:.0f} req/s, **{w['post_vs_none']:.3f}** of none (rounds: "
            f"{runs_of(w, 'post_vs_none', '.3f')}) · decided {w['decided_per_s']:.0f}/s, "
            f"**{w['decided_vs_none']:.3f}** of none (rounds: "
            f"{runs_of(w, 'decided_vs_none', '.3f')}) · CPU per order "
            f"{w['cpu_ms_total']:.2f} ms, {w['cpu_vs_none']:.3f} of none · "
            f"{w['webhooks_delivered']:.0f} webhooks delivered a run, the last "
            f"{w['webhooks_drained_after_s']:.1f} s after the orders · the receiver's CPU "
            f"{w['receiver_cpu_us_per_webhook']:.0f} µs a webhook, not in the stack's",
            "≥ 0.90 of none (POST and decided), every webhook delivered",
            verdict(worst >= 0.90 and drained),
        )
    ]


def overload_rows(o: dict) -> list[tuple]:
    """The overload phase (tools/bench/overload.py): what the 3x part got, and each target."""
    part, targets = o["parts"]["overload"], o["targets"]
    errors = ", ".join(f"{n} {kind}" for kind, n in part["by_error"].items()) or "none"
    cell = (
        f"{o['rate_overload']:.0f} req/s for {o['seconds']:.0f} s: {part['created']} 201, "
        f"{part['shed']} 503 ({part['shed_well_formed']} with Retry-After and a code), "
        f"no answer: {errors}; {part['slow']} answers over 2 s; p99 {ms(part['p99_ms'])} "
        f"(503s {ms(part['shed_p99_ms'])})"
    )
    before, after = o["parts"]["before"], o["parts"]["recovered"]
    return [
        (
            "8. Overload: 3 x capacity, open loop",
            cell,
            "every answer ≤ 2 s: a 201 or a 503 with Retry-After",
            verdict(targets["answered_in_time"] and targets["only_201_or_503"]),
        ),
        (
            "8. Overload: the 201s' orders",
            f"{o['created_found']} found, states {o['states']}",
            "none lost, all decided",
            verdict(targets["nothing_lost"]),
        ),
        (
            "8. Overload: p99 from 10 s after it",
            f"{ms(after['p99_ms'])} (before it: {ms(before['p99_ms'])})",
            "≤ 1.5 x before",
            verdict(targets["p99_recovered"]),
        ),
    ]


def connection_rows(connections: dict) -> list[tuple]:
    rows = []
    seen = connections.get("seen", {})
    for server, b in connections["budget"].items():
        terms = " + ".join(f"{t['n']} {t['term']}" for t in b["terms"])
        peaks = ", ".join(f"{db} {n}" for db, n in sorted(seen.get("peak_by_db", {}).items()))
        rows.append(
            (
                f"10. PostgreSQL connections at {server}, checked before the start",
                f"needed **{b['needed']}** ({terms}) · free {b['free']} (max_connections "
                f"{b['max_connections']} - reserved {b['reserved']} - {b['in_use']} in use) · "
                f"peak seen {seen.get('peak_total', 'n/a')} on the server ({peaks})",
                "needed ≤ free",
                verdict(b["needed"] <= b["free"]),
            )
        )
    return rows


def markdown(r: dict) -> str:
    cfg = r["config"]
    rows = []
    if "pipeline" in r:
        rows += pipeline_rows(r["pipeline"], cfg)
    if "writes" in r:
        rows += write_rows(r["writes"])
    if "small" in r:
        rows += status_rows(r["small"])
    if "e2e" in r:
        rows.append(
            e2e_row(
                r["e2e"],
                f"4. End to end at {r['e2e']['rate']:.0f} orders/s (½ max POST)",
                TARGETS["e2e_p99_ms"],
            )
        )
    if "e2e_10" in r:
        label = "4b. End to end at 10 orders/s"
        rows.append(e2e_row(r["e2e_10"], label, TARGETS["e2e_10_p99_ms"]))
    if "e2e" in r:
        rows.append(lag_row(r["e2e"]))
    if "small" in r:
        rows += growth_rows(r["small"], r["big"], cfg)
    if "overload" in r:
        rows += overload_rows(r["overload"])
    rows += memory_rows(r["memory"])
    rows += connection_rows(r["connections"])
    head = (
        f"# make bench — {r['started']}"
        f"{', commit ' + r['commit'] if r['commit'] else ''} {r.get('label', '')}\n\n"
        f"{r['cpus']} CPUs (shared: load average {r['load_start']} at start, {r['load_end']} "
        f"at the end) · {cfg['web']} per service · Celery {cfg['celery']} · "
        f"medians of {cfg['runs']} runs of {cfg['seconds']} s (wrk: 2 threads; pgbench: 2 "
        f"jobs) · "
        f"PostgreSQL {cfg['postgres']} (autovacuum {cfg.get('autovacuum', 'not recorded')}), "
        f"Redis {cfg['redis']} · "
        f"POST /order rate limit {cfg.get('rate_limit', 'not recorded')} · "
        f"phases: {', '.join(r.get('phases', []))} · took {r['elapsed_s']:.0f} s\n\n"
        "| Measure | Result | Target | Met |\n|---|---|---|---|\n"
    )
    return head + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
