"""Both databases read directly, at one instant: orders, their state histories, their events
and the payments Payments stored."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import psycopg


class OrderRow(NamedTuple):
    id: int
    state: str
    price: Decimal
    refund_due: bool = False  # a refund was asked for and has not been settled yet
    refunded: bool = False  # Orders recorded that Payments refunded the charge


class Transition(NamedTuple):
    """A row of orders_orderstatechange: a change of state, nothing else."""

    from_state: str | None
    to_state: str
    reason: str


class Event(NamedTuple):
    """A row of orders_orderevent: a fact that changed no state."""

    kind: str
    detail: str
    transaction_id: str = ""


class PaymentRow(NamedTuple):
    id: int
    status: str
    amount: Decimal
    transaction_id: str


@dataclass
class Snapshot:
    orders: dict[str, OrderRow]
    history: dict[int, list[Transition]]  # by order id, oldest first
    payments: dict[str, list[PaymentRow]]  # by order number
    events: dict[int, list[Event]] = field(default_factory=dict)  # by order id, oldest first
    max_history_id: int = 0
    max_event_id: int = 0
    payments_changed: tuple = ()

    @property
    def fingerprint(self) -> tuple:
        refunds = sum(o.refund_due + 2 * o.refunded for o in self.orders.values())
        changes = (self.max_history_id, self.max_event_id)
        return (len(self.orders), changes, refunds, self.payments_changed)


# OrderRow's fields after `number`; the refund columns and the events are in the squashed 0001,
# which the suite always applies to its fresh databases.
ORDER_QUERY = (
    "SELECT id, number, state, price, refund_queued_at IS NOT NULL, refunded_at IS NOT NULL "
    "FROM orders_order"
)
HISTORY_QUERY = (
    "SELECT id, order_id, from_state, to_state, reason FROM orders_orderstatechange ORDER BY id"
)
EVENT_QUERY = "SELECT id, order_id, kind, detail, transaction_id FROM orders_orderevent ORDER BY id"


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
        snap = Snapshot({}, defaultdict(list), defaultdict(list), defaultdict(list))
        # One REPEATABLE READ transaction: orders, histories and events seen at the same instant.
        with psycopg.connect(self.orders_db, connect_timeout=5) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                for order_id, number, *rest in conn.execute(ORDER_QUERY):
                    snap.orders[number] = OrderRow(order_id, *rest)
                for row_id, order_id, *transition in conn.execute(HISTORY_QUERY):
                    snap.history[order_id].append(Transition(*transition))
                    snap.max_history_id = row_id
                for row_id, order_id, *event in conn.execute(EVENT_QUERY):
                    snap.events[order_id].append(Event(*event))
                    snap.max_event_id = row_id
        # Read after the orders: a payment is stored before the order it decides changes state.
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
