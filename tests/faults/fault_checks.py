"""What "nothing lost, nothing charged twice, no illegal state" means, read from both databases
directly: a snapshot of orders, their histories and payments, the violations it shows, and a
bounded wait until the system has settled after a fault."""

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import psycopg
from fault_report import Row

SETTLE_TIMEOUT_SECONDS = 60
# Every order settled for this long: nothing is in flight any more.
QUIET_SECONDS = 3
# Nothing changed for this long and no order is left `created`, though some is still
# inconsistent: stop waiting (a cancelled order whose charge nobody refunds stays so).
STABLE_SECONDS = 8

# "payment confirmed (<uuid>)", "payment declined after cancellation (<uuid>)", "payment
# refunded (<uuid>)": what Orders wrote down; each must be what Payments stored.
PAYMENT_REASON = re.compile(r"^payment (confirmed|declined|refunded)\b.*\(([0-9a-f-]{36})\)$")
CONFIRMED_STATES = {"confirmed", "delivered"}


class OrderRow(NamedTuple):
    id: int
    state: str
    price: Decimal
    refund_due: bool = False  # a refund was asked for and has not been settled yet
    refunded: bool = False  # Orders recorded that Payments refunded the charge


class Move(NamedTuple):
    from_state: str | None
    to_state: str
    reason: str


class PaymentRow(NamedTuple):
    id: int
    status: str
    amount: Decimal
    transaction_id: str


@dataclass
class Snapshot:
    orders: dict[str, OrderRow]
    history: dict[int, list[Move]]  # by order id, oldest first
    payments: dict[str, list[PaymentRow]]  # by order number
    max_history_id: int = 0
    payments_changed: tuple = ()

    @property
    def fingerprint(self) -> tuple:
        refunds = sum(o.refund_due + 2 * o.refunded for o in self.orders.values())
        return (len(self.orders), self.max_history_id, refunds, self.payments_changed)


# OrderRow's fields after `number`; the refund columns came with migration 0002, which the
# suite always applies to its fresh databases.
ORDER_QUERY = (
    "SELECT id, number, state, price, refund_queued_at IS NOT NULL, refunded_at IS NOT NULL "
    "FROM orders_order"
)


class Databases:
    def __init__(self, orders_db: str, payments_db: str):
        self.orders_db, self.payments_db = orders_db, payments_db

    def high_water(self) -> tuple[int, int]:
        """The last order id and payment id: a scenario's orders and payments come after."""
        with psycopg.connect(self.orders_db, connect_timeout=5) as conn:
            order_id = conn.execute("SELECT coalesce(max(id), 0) FROM orders_order").fetchone()
        with psycopg.connect(self.payments_db, connect_timeout=5) as conn:
            payment_id = conn.execute("SELECT coalesce(max(id), 0) FROM payments_payment")
            return order_id[0], payment_id.fetchone()[0]

    def snapshot(self) -> Snapshot:
        snap = Snapshot({}, defaultdict(list), defaultdict(list))
        # One REPEATABLE READ transaction: orders and histories seen at the same instant.
        with psycopg.connect(self.orders_db, connect_timeout=5) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                for order_id, number, *rest in conn.execute(ORDER_QUERY):
                    snap.orders[number] = OrderRow(order_id, *rest)
                for row_id, order_id, *move in conn.execute(
                    "SELECT id, order_id, from_state, to_state, reason "
                    "FROM orders_orderstatechange ORDER BY id"
                ):
                    snap.history[order_id].append(Move(*move))
                    snap.max_history_id = row_id
        # Read after the orders: a payment is stored before the order it decides moves.
        with psycopg.connect(self.payments_db, connect_timeout=5) as conn:
            for *payment, number in conn.execute(
                "SELECT id, status, amount, transaction_id::text, order_number "
                "FROM payments_payment ORDER BY id"
            ):
                snap.payments[number].append(PaymentRow(*payment))
            snap.payments_changed = conn.execute(
                "SELECT count(*), max(updated_at) FROM payments_payment"
            ).fetchone()
        return snap


def scope_of(snapshot: Snapshot, since_order_id: int, extra: set[str]) -> dict[str, OrderRow]:
    return {n: o for n, o in snapshot.orders.items() if o.id > since_order_id or n in extra}


def history_problems(history: list[Move], state: str, allowed: dict[str, list[str]]) -> list[str]:
    problems = []
    if not history or history[0][:2] != (None, "created"):
        problems.append(f"starts with {history[:1]}")
    for index, (from_state, to_state, _) in enumerate(history):
        if index and from_state is None:
            problems.append(f"row {index} comes from no state")
        elif index and from_state != history[index - 1].to_state:
            problems.append(f"row {index} leaves {from_state}, not {history[index - 1].to_state}")
        moved = from_state is not None and from_state != to_state  # equal: a note, not a move
        if moved and to_state not in allowed.get(from_state, []):
            problems.append(f"illegal {from_state} -> {to_state}")
    if history and history[-1].to_state != state:
        problems.append(f"ends in {history[-1].to_state}, the order is {state}")
    return problems


def payment_problems(order: OrderRow, history: list[Move], payments: list[PaymentRow]) -> list[str]:
    problems = []
    statuses = {p.status for p in payments}
    if order.state in CONFIRMED_STATES and "confirmed" not in statuses:
        problems.append(f"{order.state} without a confirmed payment ({statuses or 'none'})")
    declined_it = any(
        m[:2] == ("created", "cancelled") and m.reason.startswith("payment declined")
        for m in history
    )
    if order.state == "cancelled" and declined_it and statuses != {"declined"}:
        problems.append(f"cancelled by a decline, payment {statuses or 'none'}")
    if order.refunded and statuses != {"refunded"}:
        problems.append(f"Orders recorded a refund, Payments says {statuses or 'none'}")
    problems += [
        f"charged {p.amount} for an order of {order.price}"
        for p in payments
        if p.amount != order.price
    ]
    stored = {p.transaction_id: p.status for p in payments}
    for move in history:
        if match := PAYMENT_REASON.match(move.reason):
            said, transaction_id = match.groups()
            status = stored.get(transaction_id)
            # A confirmation may have been refunded since; anything else must match as it is.
            if status != said and not (said == "confirmed" and status == "refunded"):
                problems.append(f"history: {said} {transaction_id}, Payments: {status or 'none'}")
    return problems


def is_cancelled_but_charged(order: OrderRow, payments: list[PaymentRow]) -> bool:
    return order.state == "cancelled" and any(p.status == "confirmed" for p in payments)


def assess(
    row: Row,
    snapshot: Snapshot,
    *,
    scope: dict[str, OrderRow],
    posted: list[str],
    since_order_id: int,
    since_payment_id: int,
    allowed: dict[str, list[str]],
) -> Row:
    posted_set = set(posted)
    row.created = len(posted_set)
    new = {n for n, order in snapshot.orders.items() if order.id > since_order_id}
    row.unanswered_but_stored = len(new - posted_set)
    for number in sorted(posted_set - snapshot.orders.keys()):
        row.lost += 1
        row.example("lost", number, "answered 201, not in the database")
    for number, order in scope.items():
        payments = snapshot.payments.get(number, [])
        history = snapshot.history.get(order.id, [])
        if order.state == "created":
            row.stuck += 1
            row.example("stuck", number, f"still created; payments {payments or 'none'}")
        if len(payments) > 1:
            row.double_charged += 1
            row.example("double-charged", number, f"{len(payments)} payments")
        if is_cancelled_but_charged(order, payments):
            row.cancelled_but_charged += 1
            row.example("cancelled-but-charged", number, str([m.reason for m in history]))
        for problem in history_problems(history, order.state, allowed):
            row.illegal += 1
            row.example("illegal", number, problem)
        for problem in payment_problems(order, history, payments):
            row.inconsistent += 1
            row.example("inconsistent", number, problem)
    for number, payments in snapshot.payments.items():
        if number not in snapshot.orders and any(p.id > since_payment_id for p in payments):
            row.inconsistent += 1
            row.example("inconsistent", number, "a payment for an order that does not exist")
    return row


def unsettled(snapshot: Snapshot, scope: dict[str, OrderRow]) -> int:
    """Orders not decided yet, with a refund still due, or whose payment does not agree yet."""
    count = 0
    for number, order in scope.items():
        payments = snapshot.payments.get(number, [])
        count += bool(
            order.state == "created"
            or order.refund_due
            or is_cancelled_but_charged(order, payments)
            or payment_problems(order, snapshot.history.get(order.id, []), payments)
        )
    return count


def wait_settled(
    databases: Databases, scope_fn, *, fault_end: float, backlog_fn=None, on_poll=None
) -> tuple[Snapshot, float | None]:
    """Poll until every order in scope has been settled for QUIET_SECONDS, or nothing changed for
    STABLE_SECONDS with no order left `created`, or SETTLE_TIMEOUT_SECONDS passed. Returns the
    last snapshot and the recovery time (None on timeout)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    ok_since = changed_at = fingerprint = None
    while True:
        if on_poll:
            on_poll()
        now = time.monotonic()
        snapshot = databases.snapshot()
        scope = scope_fn(snapshot)
        if snapshot.fingerprint != fingerprint:
            fingerprint, changed_at = snapshot.fingerprint, now
        drained = backlog_fn is None or backlog_fn() == 0
        if unsettled(snapshot, scope) == 0 and drained:
            ok_since = ok_since or now
            if now - ok_since >= QUIET_SECONDS:
                return snapshot, max(0.0, ok_since - fault_end)
        else:
            ok_since = None
            decided = all(order.state != "created" for order in scope.values())
            if decided and drained and now - changed_at >= STABLE_SECONDS:
                return snapshot, max(0.0, changed_at - fault_end)
        if now > deadline:
            return snapshot, None
        time.sleep(0.25)


def clean_orders(snapshot: Snapshot, allowed: dict[str, list[str]]) -> list[str]:
    """Settled orders with nothing wrong: a later scenario can reuse them and own any damage."""
    return [
        number
        for number, order in snapshot.orders.items()
        if order.state != "created"
        and not order.refund_due
        and len(payments := snapshot.payments.get(number, [])) <= 1
        and not is_cancelled_but_charged(order, payments)
        and not history_problems(
            history := snapshot.history.get(order.id, []), order.state, allowed
        )
        and not payment_problems(order, history, payments)
    ]


def race_outcomes(snapshot: Snapshot, numbers: list[str]) -> Counter:
    """Who won each cancel-versus-payment race, read from the histories."""
    outcomes: Counter = Counter()
    for number in numbers:
        order = snapshot.orders.get(number)
        history = snapshot.history.get(order.id, []) if order else []
        moves = {m[:2] for m in history}
        late = [m.reason.split(" (")[0] for m in history if "after cancellation" in m.reason]
        if ("confirmed", "cancelled") in moves:
            outcomes["confirmed, then cancelled"] += 1
        elif any(m.reason.startswith("payment declined (") for m in history):
            outcomes["declined, then cancel refused"] += 1
        elif late:
            outcomes[
                f"cancelled in flight, {late[0].removesuffix(' after cancellation')} late"
            ] += 1
        elif ("created", "cancelled") in moves:
            outcomes["cancelled before the payment was asked"] += 1
        else:
            outcomes["other"] += 1
    return outcomes
