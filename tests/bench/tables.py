"""The one table `make bench` prints: every measure, its target, and whether it is met."""

import math
import statistics

TARGETS = {
    "ceiling_ratio": 0.5,
    "post_p99_ms_16": 50,
    "e2e_p99_ms": 100,
    "lag_p99_ms": 1500,
    "growth_ratio": 1.2,
}
MEMORY_ROLES = [
    ("orders gunicorn worker child", "Orders gunicorn worker"),
    ("payments gunicorn worker child", "Payments gunicorn worker"),
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


def markdown(r: dict) -> str:
    w, small, big, e2e = r["writes"], r["small"], r["big"], r["e2e"]
    rows = []
    for c in (16, 64):
        post = w[f"post_{c}"]
        target = "p99 ≤ 50 ms, no errors" if c == 16 else "no errors"
        ok = post["errors"] == 0 and (c != 16 or post["p99_ms"] <= TARGETS["post_p99_ms_16"])
        cell = f"{http_cell(post)} · {post['backlog_after']:.0f} payment tasks queued at the end"
        rows.append((f"1. POST /order, {c} connections", cell, target, verdict(ok)))
    for c in (16, 64):
        pg = w[f"pgbench_{c}"]
        cell = f"{pg['tps']:.0f} tx/s · p50 {ms(pg['p50_ms'])} · p99 {ms(pg['p99_ms'])}"
        if pg["failed"]:
            cell += f" · {pg['failed']:.0f} failed"
        rows.append((f"2. pgbench ceiling, {c} clients", cell, "", verdict(None)))
    for c in (16, 64):
        ratio, per_run = paired(w[f"post_{c}"], w[f"pgbench_{c}"], "tps")
        rows.append(
            (
                f"2. POST / ceiling, {c}",
                f"**{ratio:.2f}** (runs: {per_run})",
                "≥ 0.5 (plain DRF ≈ 0.23)",
                verdict(ratio >= TARGETS["ceiling_ratio"]),
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
    for c in (16, 64):
        rows.append(
            (
                f"3. `GET /order/status/<n>`, {c} connections",
                http_cell(small[f"status_{c}"]),
                "no errors",
                verdict(small[f"status_{c}"]["errors"] == 0),
            )
        )
    states = ", ".join(f"{n} {s}" for s, n in sorted(e2e["states"].items()))
    lost = e2e["sent"] - e2e["e2e_count"]
    pending = f" · **{lost} without an outcome by the deadline**" if lost else ""
    late = e2e["states"].get("confirmed", 0)
    undelivered = f" · **{late} confirmed but not delivered by the deadline**" if late else ""
    rows.append(
        (
            f"4. End to end at {e2e['rate']:.0f} orders/s (½ max POST), open loop, "
            f"{len(e2e['runs'])} x {r['config']['e2e_seconds']:.0f} s",
            f"p50 {ms(e2e['e2e_p50_ms'])} · p99 **{ms(e2e['e2e_p99_ms'])}** · "
            f"{e2e['sent']} sent, {e2e['e2e_count']} reached an outcome ({states}) · "
            f"POST p99 {ms(e2e['post_p99_ms'])} · sends late p99 {ms(e2e['late_p99_ms'])} · "
            f"runs' p99: {', '.join(ms(run['e2e_p99_ms']) for run in e2e['runs'])}{pending}",
            "p99 ≤ 100 ms, every order accounted for",
            verdict(lost == 0 and e2e["e2e_p99_ms"] <= TARGETS["e2e_p99_ms"]),
        )
    )
    rows.append(
        (
            "5. Delivery lag (delivered - confirmed - delay)",
            f"p50 {ms(e2e['lag_p50_ms'])} · p99 **{ms(e2e['lag_p99_ms'])}** · "
            f"{e2e['lag_count']} delivered{undelivered}",
            "p99 ≤ 1.5 s",
            verdict(
                e2e["lag_count"] > 0 and not late and e2e["lag_p99_ms"] <= TARGETS["lag_p99_ms"]
            ),
        )
    )
    sizes = f"{r['config']['small']:,} → {r['config']['big']:,}"
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
    for role, label in MEMORY_ROLES:
        peaks = r["memory"].get(role, {})
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
    cfg = r["config"]
    head = (
        f"# make bench — {r['started']}"
        f"{', commit ' + r['commit'] if r['commit'] else ''} {r.get('label', '')}\n\n"
        f"{r['cpus']} CPUs (shared: load average {r['load_start']} at start, {r['load_end']} "
        f"at the end) · gunicorn {cfg['gunicorn']} per service · Celery {cfg['celery']} · "
        f"medians of {cfg['runs']} runs of {cfg['seconds']} s (wrk: 2 threads; pgbench: 2 "
        f"jobs) · "
        f"PostgreSQL {r['config']['postgres']}, Redis {r['config']['redis']} · "
        f"took {r['elapsed_s']:.0f} s\n\n"
        "| Measure | Result | Target | Met |\n|---|---|---|---|\n"
    )
    return head + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
