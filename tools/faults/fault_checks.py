"""What "nothing lost, nothing charged twice, no illegal state" means, read from a snapshot of
both databases (fault_snapshot.py): the violations it shows, and a bounded wait until the system
has settled after a fault."""

import re
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from fault_report import Row
from fault_snapshot import Databases, Event, OrderRow, PaymentRow, Snapshot, Transition

SETTLE_TIMEOUT_SECONDS = 60
# Every order settled for this long: nothing is in flight any more.
QUIET_SECONDS = 3
# Nothing changed for this long and no order is left `created`, though some is still
# inconsistent: stop waiting (a cancelled order whose charge nobody refunds stays so).
STABLE_SECONDS = 8

# "payment confirmed (<uuid>)", "payment declined (<uuid>)", "payment refunded (<uuid>)": the
# reason of a transition a payment result made; each must be what Payments stored.
PAYMENT_REASON = re.compile(r"^payment (confirmed|declined|refunded)\b.*\(([0-9a-f-]{36})\)$")
# The events' details (orders/services.py, orders/refunds.py).
# "refunded": orders/services.py records a replay after a refund like any late result.
LATE_RESULT = re.compile(r"^payment (confirmed|declined|refunded) after cancellation$")
NOTHING_TO_REFUND = re.compile(
    r"^no refund needed: .+ \((payment_not_found|payment_not_refundable)\)$"
)
CONFIRMED_STATES = {"confirmed", "delivered"}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer seen while something was broken: which request (route and service),
    its status (0: no answer at all), its Content-Type and its Retry-After header."""

    request: str
    status: int
    content_type: str = ""
    retry_after: str | None = None


def answer_problems(answers: list[Answer]) -> list[str]:
    """What the services must never answer, whatever is down: a 5xx other than 503 (a 500 is a
    bug, not an outage), no answer at all, a body that is not JSON (Django's or the server's
    HTML page), a 503 without the Retry-After that tells the client when to try again."""
    problems = []
    for answer in answers:
        if answer.status == 0:
            problems.append(f"{answer.request}: no answer")
            continue
        if answer.status >= 500 and answer.status != 503:
            problems.append(f"{answer.request}: {answer.status}")
        if answer.content_type.split(";")[0].strip() != "application/json":
            body_type = answer.content_type or "no body type"
            problems.append(f"{answer.request}: {answer.status} {body_type}")
        if answer.status == 503 and not (answer.retry_after or "").isdigit():
            problems.append(f"{answer.request}: 503 without Retry-After")
    return problems


def history_problems(
    history: list[Transition], state: str, allowed: dict[str, list[str]]
) -> list[str]:
    """The history must be the path of states: None -> created, then legal transitions that
    chain, ending in the order's state. A row that stays in its state is no transition at all."""
    problems = []
    if not history or history[0][:2] != (None, "created"):
        problems.append(f"starts with {history[:1]}")
    for index, (from_state, to_state, _) in enumerate(history):
        if index and from_state is None:
            problems.append(f"row {index} comes from no state")
        elif index and from_state != history[index - 1].to_state:
            problems.append(f"row {index} leaves {from_state}, not {history[index - 1].to_state}")
        if from_state is not None and from_state == to_state:
            problems.append(f"row {index} stays {to_state}: a history row that changes no state")
        elif from_state is not None and to_state not in allowed.get(from_state, []):
            problems.append(f"illegal {from_state} -> {to_state}")
    if history and history[-1].to_state != state:
        problems.append(f"ends in {history[-1].to_state}, the order is {state}")
    return problems


def event_problems(
    order: OrderRow, history: list[Transition], events: list[Event], payments: list[PaymentRow]
) -> list[str]:
    """Each event must be what Payments stored, recorded once, and only on a cancelled order."""
    stored = {p.transaction_id: p.status for p in payments}
    statuses = set(stored.values())
    recorded = Counter((e.kind, e.transaction_id) for e in events)
    problems = [
        f"event {kind} {tx or '(no transaction)'} recorded {count} times"
        for (kind, tx), count in recorded.items()
        if count > 1
    ]
    refunded = any(e.kind == "refunded" for e in events)
    if order.refunded != refunded:
        problems.append(
            f"refunded_at {'set' if order.refunded else 'NULL'}, refunded event: {refunded}"
        )
    if "refunded" in statuses and not order.refunded:
        problems.append("Payments refunded a charge that Orders did not record")
    for e in events:
        tx, status = e.transaction_id, stored.get(e.transaction_id)
        if order.state != "cancelled":
            problems.append(f"event {e.kind} on a {order.state} order")
        if e.kind == "payment_after_cancellation":
            if not (match := LATE_RESULT.match(e.detail)):
                problems.append(f"late result {e.detail!r} names no outcome")
                continue
            said = match.group(1)
            if status != said and not (said == "confirmed" and status == "refunded"):
                problems.append(f"event: {said} {tx} late, Payments: {status or 'none'}")
            if any(m.reason == f"payment {said} ({tx})" for m in history):
                problems.append(
                    f"the result {said} {tx} transitioned the order and is a late one too"
                )
        elif e.kind == "refunded":
            if status != "refunded":
                problems.append(f"event: refunded {tx}, Payments: {status or 'none'}")
        elif e.kind == "refund_not_needed":
            if not (match := NOTHING_TO_REFUND.match(e.detail)):
                problems.append(f"no refund needed, for no known reason: {e.detail!r}")
            elif match.group(1) == "payment_not_refundable" and statuses != {"declined"}:
                problems.append(f"no refund needed (declined), Payments: {statuses or 'none'}")
            elif match.group(1) == "payment_not_found" and not refunded and statuses - {"declined"}:
                problems.append(f"no refund needed (no payment), Payments: {statuses}")
        else:
            problems.append(f"unexpected event {e.kind}: {e.detail!r}")
    return problems


def payment_problems(
    order: OrderRow, history: list[Transition], events: list[Event], payments: list[PaymentRow]
) -> list[str]:
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
    for transition in history:
        if match := PAYMENT_REASON.match(transition.reason):
            said, transaction_id = match.groups()
            status = stored.get(transaction_id)
            # A confirmation may have been refunded since; anything else must match as it is.
            if status != said and not (said == "confirmed" and status == "refunded"):
                problems.append(f"history: {said} {transaction_id}, Payments: {status or 'none'}")
    return problems + event_problems(order, history, events, payments)


def refused_problems(
    order: OrderRow,
    history: list[Transition],
    events: list[Event],
    payments: list[PaymentRow],
    amount: Decimal,
) -> list[str]:
    """An order whose charge Payments refuses (it holds a payment of `amount`, made before Orders
    asked, for another price) must stay as it was created: only its first history row, no
    payment but that one, and no event but reconciliation's report of that payment's amount
    (once, about that payment)."""
    problems = []
    if order.state != "created":
        problems.append(f"refused by Payments, yet {order.state}")
    if len(history) != 1:
        problems.append(f"refused by Payments, yet {len(history)} history rows")
    paid_first = {p.transaction_id for p in payments}
    reported = [e for e in events if e.kind == "amount_differs" and e.transaction_id in paid_first]
    if len(reported) > 1 or len(reported) != len(events):
        problems.append(f"refused by Payments, yet events {[e.kind for e in events]}")
    if [p.amount for p in payments] != [amount]:
        amounts = [str(p.amount) for p in payments]
        problems.append(f"Payments holds {amounts}, expected only the one of {amount}")
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
    refused: dict[str, Decimal] | None = None,
) -> Row:
    """Count the violations of the orders in `scope`. `refused`: the orders a scenario made
    Payments refuse on purpose (number -> the amount it paid them with first), each judged by
    refused_problems() instead of as stuck or as charged another amount."""
    refused = refused or {}
    posted_set = set(posted)
    row.created = len(posted_set)
    new = {n for n, order in snapshot.orders.items() if order.id > since_order_id}
    row.unanswered_but_stored = len(new - posted_set)
    for number in sorted(posted_set - snapshot.orders.keys()):
        row.lost += 1
        row.example("lost", number, "answered 201, not in the database")
    for number in sorted(refused.keys() - scope.keys()):
        row.inconsistent += 1
        row.example("inconsistent", number, "refused on purpose, not among the scenario's orders")
    for number, order in scope.items():
        payments = snapshot.payments.get(number, [])
        history = snapshot.history.get(order.id, [])
        events = snapshot.events.get(order.id, [])
        if number in refused:
            problems = refused_problems(order, history, events, payments, refused[number])
        else:
            problems = payment_problems(order, history, events, payments)
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
        for problem in problems:
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
        history, events = snapshot.history.get(order.id, []), snapshot.events.get(order.id, [])
        count += bool(
            order.state == "created"
            or order.refund_due
            or is_cancelled_but_charged(order, payments)
            or payment_problems(order, history, events, payments)
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
        and not payment_problems(order, history, snapshot.events.get(order.id, []), payments)
    ]


def race_outcomes(snapshot: Snapshot, numbers: list[str]) -> Counter:
    """Who won each cancel-versus-payment race, read from the histories and the events."""
    outcomes: Counter = Counter()
    for number in numbers:
        order = snapshot.orders.get(number)
        history = snapshot.history.get(order.id, []) if order else []
        events = snapshot.events.get(order.id, []) if order else []
        transitions = {m[:2] for m in history}
        late = [e.detail for e in events if e.kind == "payment_after_cancellation"]
        if ("confirmed", "cancelled") in transitions:
            outcomes["confirmed, then cancelled"] += 1
        elif any(m.reason.startswith("payment declined (") for m in history):
            outcomes["declined, then cancel refused"] += 1
        elif late:
            outcomes[
                f"cancelled in flight, {late[0].removesuffix(' after cancellation')} late"
            ] += 1
        elif ("created", "cancelled") in transitions:
            outcomes["cancelled before the payment was asked"] += 1
        else:
            outcomes["other"] += 1
    return outcomes
