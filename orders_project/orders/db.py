"""Every hand-written SQL statement of Orders, each a named function; the callers keep the logic.

Each statement is here because it does in one round trip what the ORM needs several for, on the
hottest paths: an order's creation, a transition, a claim of waiting orders. Table and column
names come from the models' _meta (or are the models' own), values go as parameters.

PostgreSQL runs INSERT and UPDATE inside WITH; SQLite (the embedded default) does not. Where a
statement needs that, its SQLite twin is beside it: the ORM in one transaction, which SQLite's
single writer (IMMEDIATE transactions) makes the same compare-and-set. The twins are kept rather
than one portable statement for both: on PostgreSQL each ORM twin costs several round trips where
the statement costs one.

tests/orders/test_db.py runs every statement on the database of the run."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction

from orders.models import Order, OrderStateChange

if TYPE_CHECKING:
    from orders.transitions import Transition


def _quoted_names() -> dict[str, str]:
    """The quoted table and column names the statements use, from the models' _meta."""
    quote = connection.ops.quote_name
    order, change = Order._meta, OrderStateChange._meta
    names = {"order": quote(order.db_table), "change": quote(change.db_table)}
    for field in (
        "number",
        "state",
        "state_changed_at",
        "updated_at",
        "name",
        "address",
        "price",
        "payment_method",
        "payment_requested_at",
        "payment_claimed_by",
    ):
        names[f"order.{field}"] = quote(order.get_field(field).column)
    for field in ("order", "from_state", "to_state", "reason", "created_at"):
        names[f"change.{field}"] = quote(change.get_field(field).column)
    names["order.id"] = quote(order.pk.column)
    return names


# --- A new order and its first history row --------------------------------------------------

# One statement, a transaction of its own: one round trip where the ORM needs four (BEGIN, two
# INSERTs, COMMIT), and no INSERT for Django to compile: the largest costs of POST /order after
# the publish (docs/performance.md). A number already taken inserts nothing and returns no row.
_INSERT_ORDER_WITH_HISTORY = """
    WITH new_order AS (
        INSERT INTO orders_order (number, name, address, price, payment_method, state,
                                  state_changed_at, payment_requested_at, created_at, updated_at)
        VALUES (%(number)s, %(name)s, %(address)s, %(price)s, %(payment_method)s, %(state)s,
                %(now)s, %(now)s, %(now)s, %(now)s)
        ON CONFLICT (number) DO NOTHING
        RETURNING id
    )
    INSERT INTO orders_orderstatechange (order_id, from_state, to_state, reason, created_at)
    SELECT id, NULL, %(state)s, %(reason)s, %(now)s FROM new_order
    RETURNING order_id
"""


def order_insert_with_history(order: Order, *, reason: str) -> bool:
    """Insert the new `order` (every field set, its clocks equal to created_at) and its first
    history row, atomically; False if its number is taken. The order gets its id."""
    if connection.vendor == "postgresql":
        params = {
            "number": order.number,
            "name": order.name,
            "address": order.address,
            "price": order.price,
            "payment_method": order.payment_method,
            "state": order.state,
            "now": order.created_at,
            "reason": reason,
        }
        # As save() does for its INSERT: inside a caller's transaction (an Idempotency-Key
        # request), any other failure (a CHECK constraint) marks it for rollback.
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(_INSERT_ORDER_WITH_HISTORY, params)
            row = cursor.fetchone()
        if row is None:
            return False
        order.id = row[0]
        order._state.adding, order._state.db = False, connection.alias
        return True
    # SQLite's twin.
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            OrderStateChange.objects.create(
                order=order,
                from_state=None,
                to_state=order.state,
                reason=reason,
                created_at=order.created_at,
            )
    except IntegrityError:
        if not Order.objects.filter(number=order.number).exists():
            raise
        return False
    return True


# --- Transitions (orders/transitions.py) ----------------------------------------------------


# Why the state is checked on the locked row (`current`) rather than in the UPDATE's WHERE: with
# statistics taken while few orders were `created` (a quiet hour, then a burst or a Payments
# outage), the planner answers `… AND state = 'created'` from the partial index of created
# orders and walks all of them: 3 ms with 30,000 waiting instead of 0.05 ms, growing with the
# backlog (docs/performance.md). Found by primary key, the rows have one plan whatever the
# statistics; FOR UPDATE makes a concurrent transition wait and then see the state it committed.
@functools.cache
def _transition_one_sql() -> str:
    t = _quoted_names()
    return f"""
        WITH current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.number"]} = %(number)s FOR UPDATE
        ), changed AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = %(to_state)s,
                {t["order.state_changed_at"]} = %(now)s, {t["order.updated_at"]} = %(now)s
            FROM current
            WHERE o.{t["order.id"]} = current.id AND current.state = %(from_state)s
            RETURNING o.*
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT {t["order.id"]}, %(from_state)s, %(to_state)s, %(reason)s, %(now)s
            FROM changed
        )
        SELECT * FROM changed
    """  # noqa: S608 (only names from _meta are formatted in)


def order_transition_from(
    *, order_number: str, from_state: str, to_state: str, reason: str, now: datetime
) -> Order | None:
    """The compare-and-set of one order from `from_state` to `to_state`, with its history row;
    the order as it is now, or None if it was not in `from_state`. Atomic on its own."""
    if connection.vendor == "postgresql":
        params = {
            "number": order_number,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "now": now,
        }
        # One statement: one round trip where the ORM needs five.
        changed = list(Order.objects.raw(_transition_one_sql(), params))
        return changed[0] if changed else None
    # SQLite's twin: its single writer makes the UPDATE's WHERE the compare-and-set.
    with transaction.atomic():
        if not Order.objects.filter(number=order_number, state=from_state).update(
            state=to_state, state_changed_at=now, updated_at=now
        ):
            return None
        order = Order.objects.get(number=order_number)
        OrderStateChange.objects.create(
            order=order, from_state=from_state, to_state=to_state, reason=reason, created_at=now
        )
    return order


@functools.cache
def _transition_many_sql(rows: int) -> str:
    t = _quoted_names()
    # CASTs type the VALUES list; both backends know them, only PostgreSQL needs them.
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS varchar(16)), %s)"] * rows)
    return f"""
        WITH wanted (id, to_state, reason) AS (VALUES {values}),
        current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.id"]} IN (SELECT id FROM wanted) FOR UPDATE
        ), changed AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = wanted.to_state,
                {t["order.state_changed_at"]} = %s, {t["order.updated_at"]} = %s
            FROM current JOIN wanted ON wanted.id = current.id
            WHERE o.{t["order.id"]} = current.id AND current.state = %s
            RETURNING o.{t["order.id"]} AS id, wanted.to_state, wanted.reason
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT id, %s, to_state, reason, %s FROM changed
        )
        SELECT id FROM changed
    """  # noqa: S608 (only names from _meta are formatted in)


def orders_transition_many_from(
    *, from_state: str, transitions: Sequence[Transition], now: datetime
) -> set[int]:
    """The set-based compare-and-set of many orders from `from_state`, each to its own
    `to_state`, with one history row each; the ids of the orders that were in `from_state`
    (and changed). The order ids must be distinct. Atomic on its own."""
    if connection.vendor == "postgresql":
        params: list = []
        for transition in transitions:
            params += [transition.order_id, transition.to_state, transition.reason]
        params += [now, now, from_state, from_state, now]
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(_transition_many_sql(len(transitions)), params)
            return {row[0] for row in cursor.fetchall()}
    # SQLite's twin: its single writer makes the read and the updates one compare-and-set.
    with transaction.atomic():
        changed = set(
            Order.objects.filter(
                id__in=[transition.order_id for transition in transitions], state=from_state
            ).values_list("id", flat=True)
        )
        by_target: dict[str, list[int]] = {}
        for transition in transitions:
            if transition.order_id in changed:
                by_target.setdefault(transition.to_state, []).append(transition.order_id)
        for to_state, ids in by_target.items():
            Order.objects.filter(id__in=ids).update(
                state=to_state, state_changed_at=now, updated_at=now
            )
        OrderStateChange.objects.bulk_create(
            OrderStateChange(
                order_id=transition.order_id,
                from_state=from_state,
                to_state=transition.to_state,
                reason=transition.reason,
                created_at=now,
            )
            for transition in transitions
            if transition.order_id in changed
        )
    return changed


# --- Claims of waiting orders (orders/charging.py) ------------------------------------------


@functools.cache
def _claim_sql(*, by_numbers: int, skip_locked: bool) -> str:
    t = _quoted_names()
    clock = t["order.payment_requested_at"]
    if by_numbers:
        which = f"{t['order.number']} IN ({', '.join(['%s'] * by_numbers)})"
    else:
        which = f"{clock} <= %s"
    lock = "FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return f"""
        UPDATE {t["order"]} SET {clock} = %s, {t["order.payment_claimed_by"]} = %s
        WHERE {t["order.id"]} IN (
            SELECT {t["order.id"]} FROM {t["order"]} WHERE {t["order.state"]} = %s AND {which}
            ORDER BY {clock} LIMIT %s {lock}
        )
        RETURNING {t["order.id"]}, {t["order.number"]}, {t["order.name"]},
            {t["order.address"]}, {t["order.price"]}, {t["order.payment_method"]}
    """  # noqa: S608 (only names from _meta are formatted in)


def orders_claim(
    *,
    state: str,
    claimed_until: datetime,
    claimant: str,
    limit: int,
    due_by: datetime | None = None,
    numbers: Sequence[str] = (),
) -> list[Order]:
    """Claim up to `limit` orders in `state`, oldest payment_requested_at first: those due by
    `due_by`, or, given `numbers`, those orders whatever their clock. One UPDATE moves their
    clock to `claimed_until`, records `claimant` and returns the claimed orders (id, number,
    name, address, price, payment_method), by id. Both backends run it; PostgreSQL with SKIP
    LOCKED, where other chargers claim at the same time (SQLite has one writer)."""
    if not numbers and due_by is None:
        raise ValueError("orders_claim needs `due_by` or `numbers`")
    sql = _claim_sql(by_numbers=len(numbers), skip_locked=connection.vendor == "postgresql")
    params = [claimed_until, claimant, state, *(numbers or [due_by]), limit]
    # raw(): the backend's converters turn each column into its field's Python value (SQLite
    # hands back a price as a float). RETURNING keeps no order: by id, the order of creation.
    return sorted(Order.objects.raw(sql, params), key=lambda order: order.pk)
