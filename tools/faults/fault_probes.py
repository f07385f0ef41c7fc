"""What the batch scenarios do to the running system besides killing it: hold the charger's
wake-ups, pay an order at Payments before Orders does, read a metric and Payments' batch log,
and wait for the test-only worker's record of an answered batch."""

import contextlib
import json
import re
import time
from collections import Counter
from decimal import Decimal

import psycopg
import requests
from fault_stack import TOKEN, System
from fault_worker import ANSWERED_KEY
from prometheus_client.parser import text_string_to_metric_families

# orders/wake_up.py: while this key exists, a new order wakes no charger (nor does the
# re-drive); the system's own guard, held longer than it ever is, not a patch.
WAKE_UP_GUARD_KEY = "orders:charger-wake-up-pending"
HOLD_SAFETY_MS = 20_000  # the hold ends by itself even if the scenario dies holding it
# payments/services.py logs one line per batch.
BATCH_LINE = re.compile(r"payment batch of (\d+): (\d+) stored, (\d+) replayed, (\d+) errors")


@contextlib.contextmanager
def wake_ups_held(system: System):
    """Hold the charger's wake-up guard: orders created meanwhile wait, unclaimed. Held once
    the key survived half a second untouched with no message queued, so no charger that started
    before is still claiming (each deletes the key as it starts). A message a killed worker took
    may still be handed out again meanwhile (kombu restores those every ~100 s by default): its
    charger would take the waiting orders first, which pay_first() then sees (409). Released,
    the next new order wakes a charger."""
    client = system.redis()
    for _ in range(20):
        client.set(WAKE_UP_GUARD_KEY, "held by the fault suite", px=HOLD_SAFETY_MS)
        time.sleep(0.5)
        if client.exists(WAKE_UP_GUARD_KEY) and system.broker_backlog()[0] == 0:
            break
    else:
        raise RuntimeError("chargers kept starting: could not hold the wake-ups")
    try:
        yield
    finally:
        client.delete(WAKE_UP_GUARD_KEY)


def pay_first(system: System, number: str, price: Decimal) -> int:
    """POST /payment for an order, as Orders would but with `price`; the status code."""
    response = requests.post(
        f"{system.payments_url}/payment",
        json={
            "orderNumber": number,
            "name": "Pre-empted",
            "address": "Elsewhere",
            "price": str(price),
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    return response.status_code


def orders_counter(system: System, name: str, **labels: str) -> float:
    """A counter of Orders' /metrics (the worker's too: they share a metrics directory)."""
    response = requests.get(f"{system.orders_url}/metrics", timeout=5)
    response.raise_for_status()
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def payments_log_size(system: System) -> int:
    path = system.processes.log_dir / "payments.log"
    return path.stat().st_size if path.exists() else 0


def payments_batches(system: System, since: int) -> Counter:
    """Payments' batch lines after byte `since` of its log: batches, items stored, replayed,
    refused; and how many batches mixed results with item errors."""
    with (system.processes.log_dir / "payments.log").open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    counts: Counter = Counter()
    for match in BATCH_LINE.finditer(text):
        _, stored, replayed, errors = map(int, match.groups())
        counts.update(batches=1, stored=stored, replayed=replayed, errors=errors)
        counts["mixed"] += bool(errors and stored + replayed)
    return counts


def wait_answered(system: System, timeout: float) -> list[str]:
    """The order numbers of the batches fault_worker.py has recorded as answered by Payments and
    not yet applied, as soon as there is one; [] after `timeout`."""
    client, deadline = system.redis(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if records := client.lrange(ANSWERED_KEY, 0, -1):
            # Once each: a claim that expired while held is answered again.
            return list(dict.fromkeys(n for record in records for n in json.loads(record)))
        time.sleep(0.02)
    return []


def wait_decided(system: System, numbers: list[str], timeout: float) -> list[str]:
    """Until none of these orders is `created` any more; those still `created` (or not in the
    database: lost, which the checks count) at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        orders = system.databases.snapshot().orders
        waiting = [n for n in numbers if n not in orders or orders[n].state == "created"]
        if not waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.1)


def wait_delivered(system: System, numbers: list[str], timeout: float) -> list[str]:
    """Until none of these orders is `confirmed` any more (the delivery sweep took them); those
    still `confirmed` at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        orders = system.databases.snapshot().orders
        waiting = [n for n in numbers if n in orders and orders[n].state == "confirmed"]
        if not waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.2)


def claim_clocks(system: System, numbers: list[str]) -> dict[str, object]:
    """Each order's payment_requested_at: a claim stamps one value on all the orders it takes,
    so orders with the same clock went to Payments in the same batch (until a claim expires)."""
    with psycopg.connect(system.orders_db, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT number, payment_requested_at FROM orders_order WHERE number = ANY(%s)",
            [numbers],
        )
        return dict(rows.fetchall())


def claimed_beyond(system: System, seconds: float, *, since_id: int) -> dict[str, str]:
    """The orders after id `since_id` still `created` whose charger's claim runs at least
    `seconds` longer, with who holds it (orders/claims.py: "<worker node name> <run token>")."""
    with psycopg.connect(system.orders_db, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT number, payment_claimed_by FROM orders_order WHERE state = 'created' "
            "AND payment_requested_at > now() + make_interval(secs => %s) AND id > %s",
            [seconds, since_id],
        )
        return dict(rows.fetchall())


def refund_at_payments(system: System, number: str) -> int:
    """POST /payment/<number>/refund straight to Payments with the token, as an operator or
    another service might, without Orders knowing; the status code."""
    response = requests.post(
        f"{system.payments_url}/payment/{number}/refund",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    return response.status_code


def reconciliation_detail(system: System) -> dict:
    """The reconciliation part of Orders' /health/ready."""
    response = requests.get(f"{system.orders_url}/health/ready", timeout=5)
    return response.json()["reconciliation"]


def wait_event(system: System, number: str, kind: str, timeout: float) -> float | None:
    """Seconds until the order has an event of `kind`; None if it has none after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        snap = system.databases.snapshot()
        if any(e.kind == kind for e in snap.events.get(snap.orders[number].id, [])):
            return time.monotonic() - started
        time.sleep(0.2)
    return None
