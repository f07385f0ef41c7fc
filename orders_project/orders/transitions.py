"""The one gate every change of state goes through: one order (a cancel, a test's setup) or many
(a batch of payment results, the delivery sweep). Each move is a compare-and-set checked against
ALLOWED_TRANSITIONS and writes exactly one history row; nothing else writes history rows."""

import functools
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import Order, OrderState, OrderStateChange, can_transition, sources_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Move:
    order_id: int
    to_state: str
    reason: str


def order_move(*, order_number: str, to_state: str, reason: str) -> tuple[Order, str]:
    """Move one order to `to_state` and record it; return the moved order and the state it left.

    The first compare-and-set assumes the state an order usually leaves for `to_state` (the
    first of its sources in ALLOWED_TRANSITIONS), so the common move needs no read before it.
    When it matches nothing, we read the state and, if the move is still legal from there, try
    again from it. States only move forward, so this ends after a few rounds."""
    sources = sources_of(to_state)
    from_state = sources[0] if sources else None
    for _ in range(len(OrderState) + 1):
        if from_state is not None:
            moved = _order_move_from(
                order_number=order_number, from_state=from_state, to_state=to_state, reason=reason
            )
            if moved is not None:
                logger.info("order %s: %s -> %s (%s)", order_number, from_state, to_state, reason)
                return moved, from_state
        from_state = (
            Order.objects.filter(number=order_number).values_list("state", flat=True).first()
        )
        if from_state is None:
            raise OrderNotFound()
        if not can_transition(from_state, to_state):
            raise IllegalTransition(
                order_number=order_number, from_state=from_state, to_state=to_state
            )
    raise IllegalTransition(order_number=order_number, from_state=from_state, to_state=to_state)


def orders_move_many(*, from_state: str, moves: list[Move]) -> set[int]:
    """Move each order of `moves` from `from_state` to its `to_state`, all in one set-based
    compare-and-set, with one history row each; return the ids of the orders that moved. An
    order no longer in `from_state` (it moved meanwhile) is left alone: the caller decides."""
    for move in moves:
        if not can_transition(from_state, move.to_state):
            raise ValueError(f"{from_state} -> {move.to_state} is not in ALLOWED_TRANSITIONS")
    if not moves:
        return set()
    now = timezone.now()
    if connection.vendor == "postgresql":
        moved = _move_many_in_one_statement(from_state=from_state, moves=moves, now=now)
    else:
        moved = _move_many_with_orm(from_state=from_state, moves=moves, now=now)
    logger.info("%d of %d orders moved from %s", len(moved), len(moves), from_state)
    return moved


def _tables() -> dict[str, str]:
    """The quoted table and column names the raw statements use, from the models' _meta."""
    quote = connection.ops.quote_name
    order, change = Order._meta, OrderStateChange._meta
    names = {"order": quote(order.db_table), "change": quote(change.db_table)}
    for field in ("number", "state", "state_changed_at", "updated_at"):
        names[f"order.{field}"] = quote(order.get_field(field).column)
    for field in ("order", "from_state", "to_state", "reason", "created_at"):
        names[f"change.{field}"] = quote(change.get_field(field).column)
    names["order.id"] = quote(order.pk.column)
    return names


# Why the state is checked on the locked row (`current`) rather than in the UPDATE's WHERE: with
# statistics taken while few orders were `created` (a quiet hour, then a burst or a Payments
# outage), the planner answers `… AND state = 'created'` from the partial index of created
# orders and walks all of them: 3 ms with 30,000 waiting instead of 0.05 ms, growing with the
# backlog (docs/performance.md). Found by primary key, the rows have one plan whatever the
# statistics; FOR UPDATE makes a concurrent move wait and then see the state it committed.
@functools.cache
def _move_one_sql() -> str:
    t = _tables()
    return f"""
        WITH current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.number"]} = %(number)s FOR UPDATE
        ), moved AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = %(to_state)s,
                {t["order.state_changed_at"]} = %(now)s, {t["order.updated_at"]} = %(now)s
            FROM current
            WHERE o.{t["order.id"]} = current.id AND current.state = %(from_state)s
            RETURNING o.*
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT {t["order.id"]}, %(from_state)s, %(to_state)s, %(reason)s, %(now)s FROM moved
        )
        SELECT * FROM moved
    """  # noqa: S608 (only names from _meta are formatted in)


@functools.cache
def _move_many_sql(rows: int) -> str:
    t = _tables()
    # CASTs type the VALUES list; both backends know them, only PostgreSQL needs them.
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS varchar(16)), %s)"] * rows)
    return f"""
        WITH wanted (id, to_state, reason) AS (VALUES {values}),
        current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.id"]} IN (SELECT id FROM wanted) FOR UPDATE
        ), moved AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = wanted.to_state,
                {t["order.state_changed_at"]} = %s, {t["order.updated_at"]} = %s
            FROM current JOIN wanted ON wanted.id = current.id
            WHERE o.{t["order.id"]} = current.id AND current.state = %s
            RETURNING o.{t["order.id"]} AS id, wanted.to_state, wanted.reason
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT id, %s, to_state, reason, %s FROM moved
        )
        SELECT id FROM moved
    """  # noqa: S608 (only names from _meta are formatted in)


def _order_move_from(
    *, order_number: str, from_state: str, to_state: str, reason: str
) -> Order | None:
    """The compare-and-set of one order from `from_state`, with its history row; the moved
    order, or None if it was no longer in `from_state`."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement, atomic on its own: one round trip where the ORM needs five.
        params = {
            "number": order_number,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "now": now,
        }
        moved = list(Order.objects.raw(_move_one_sql(), params))
        return moved[0] if moved else None
    # SQLite runs no INSERT or UPDATE inside WITH: the ORM, in one transaction (its single
    # writer makes the UPDATE's WHERE the compare-and-set).
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


def _move_many_in_one_statement(*, from_state: str, moves: list[Move], now) -> set[int]:
    params: list = []
    for move in moves:
        params += [move.order_id, move.to_state, move.reason]
    params += [now, now, from_state, from_state, now]
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(_move_many_sql(len(moves)), params)
        return {row[0] for row in cursor.fetchall()}


def _move_many_with_orm(*, from_state: str, moves: list[Move], now) -> set[int]:
    """SQLite's twin of the statement above: it has no UPDATE inside WITH. Its single writer
    (IMMEDIATE transactions) makes the read and the updates one compare-and-set."""
    with transaction.atomic():
        moved = set(
            Order.objects.filter(
                id__in=[move.order_id for move in moves], state=from_state
            ).values_list("id", flat=True)
        )
        by_target: dict[str, list[int]] = {}
        for move in moves:
            if move.order_id in moved:
                by_target.setdefault(move.to_state, []).append(move.order_id)
        for to_state, ids in by_target.items():
            Order.objects.filter(id__in=ids).update(
                state=to_state, state_changed_at=now, updated_at=now
            )
        OrderStateChange.objects.bulk_create(
            OrderStateChange(
                order_id=move.order_id,
                from_state=from_state,
                to_state=move.to_state,
                reason=move.reason,
                created_at=now,
            )
            for move in moves
            if move.order_id in moved
        )
    return moved
