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
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import IntegrityError, connection, models, transaction

from orders.models import (
    DeliveryStatus,
    Order,
    OrderStateChange,
    WebhookDelivery,
    WebhookSubscription,
)

if TYPE_CHECKING:
    from orders.transitions import Transition

# The subscriptions a change is sent to: (subscription id, event type) pairs, from
# orders/webhooks/outbox.py. Empty (no active subscription wants the type, the usual case): the
# statements write no delivery row and have no part that would.
Subscribers = Sequence[tuple[int, str]]


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
        "sequence",
    ):
        names[f"order.{field}"] = quote(order.get_field(field).column)
    for field in ("order", "from_state", "to_state", "reason", "created_at"):
        names[f"change.{field}"] = quote(change.get_field(field).column)
    names["order.id"] = quote(order.pk.column)
    names["change.id"] = quote(change.pk.column)
    names["delivery"] = quote(WebhookDelivery._meta.db_table)
    return names


# --- Webhook deliveries (orders/webhooks/outbox.py) -----------------------------------------

# The columns of a new delivery row, in the order _deliveries_cte() selects them.
_DELIVERY_COLUMNS = (
    "subscription",
    "message_id",
    "event_type",
    "order",
    "state_change",
    "sequence",
    "order_state",
    "order_updated_at",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "claimed_by",
    "last_response",
)


def message_id(order_number: str, sequence: int) -> str:
    """The id of an order's change: the same for every subscription, retry and replay."""
    return f"msg_{order_number}_{sequence}"


def _deliveries_cte(*, subscribers: int, orders: str, named: bool) -> str:
    """ ", … sent AS (INSERT …)": a delivery row for each history row of the CTE `noted`
    (columns order_id, change_id, to_state, at) and each subscriber that wants
    order.<to_state>; the order's number and sequence come from the CTE `orders` (columns id,
    number, sequence). The subscribers are a VALUES list of (id, event type) parameters, named
    s0, t0, s1, t1… (`named`) or positional after the statement's other ones. Empty without
    subscribers: the statement is the one of before webhooks."""
    if not subscribers:
        return ""
    quote = connection.ops.quote_name
    fields = WebhookDelivery._meta
    columns = ", ".join(quote(fields.get_field(name).column) for name in _DELIVERY_COLUMNS)
    if named:
        pair = "(CAST(%({})s AS bigint), CAST(%({})s AS varchar(64)))"
        pairs = [pair.format(f"s{i}", f"t{i}") for i in range(subscribers)]
    else:
        pairs = ["(CAST(%s AS bigint), CAST(%s AS varchar(64)))"] * subscribers
    # The message id is message_id()'s, written in SQL.
    return f""", subscribers (id, event_type) AS (VALUES {", ".join(pairs)}),
        sent AS (
            INSERT INTO {quote(fields.db_table)} ({columns})
            SELECT subscribers.id, 'msg_' || o.number || '_' || CAST(o.sequence AS varchar),
                subscribers.event_type, noted.order_id, noted.change_id, o.sequence,
                noted.to_state, noted.at, '{DeliveryStatus.PENDING}', 0, noted.at, noted.at,
                '', ''
            FROM noted JOIN {orders} AS o ON o.id = noted.order_id
            JOIN subscribers ON subscribers.event_type = 'order.' || noted.to_state
        )"""  # noqa: S608 (only names from _meta and constants are formatted in)


def _subscriber_params(subscribers: Subscribers) -> dict:
    params = {}
    for i, (subscription_id, event_type) in enumerate(subscribers):
        params[f"s{i}"], params[f"t{i}"] = subscription_id, event_type
    return params


def deliveries_insert(
    *,
    subscribers: Subscribers,
    order: Order,
    sequence: int,
    event_type: str,
    at: datetime,
    state_change_id: int | None = None,
    event_id: int | None = None,
) -> None:
    """The delivery rows of one change of `order` (its history row or its event), one per
    subscriber that wants `event_type`: the ORM's, for the SQLite twins and for events."""
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription_id=subscription_id,
            message_id=message_id(order.number, sequence),
            event_type=event_type,
            order_id=order.pk,
            state_change_id=state_change_id,
            event_id=event_id,
            sequence=sequence,
            order_state=order.state,
            order_updated_at=order.updated_at,
            next_attempt_at=at,
            created_at=at,
        )
        for subscription_id, wanted in subscribers
        if wanted == event_type
    )


def _history_deliveries_insert(
    *, subscribers: Subscribers, order: Order, change: OrderStateChange
) -> None:
    """The delivery rows of the change of state (a creation or a transition) whose history row is
    `change`, `order` as it is after it: the SQLite twins' part of _deliveries_cte()."""
    deliveries_insert(
        subscribers=subscribers,
        order=order,
        sequence=order.sequence,
        event_type=f"order.{change.to_state}",
        at=change.created_at,
        state_change_id=change.pk,
    )


@functools.cache
def _next_sequence_sql() -> str:
    t = _quoted_names()
    return f"""
        UPDATE {t["order"]} SET {t["order.sequence"]} = {t["order.sequence"]} + 1
        WHERE {t["order.id"]} = %s RETURNING {t["order.sequence"]}
    """  # noqa: S608 (only names from _meta are formatted in)


def order_next_sequence(order: Order) -> int:
    """Count one more change of `order` (an event): its sequence number, also set on `order`.
    One statement on both backends (SQLite has RETURNING since 3.35)."""
    with connection.cursor() as cursor:
        cursor.execute(_next_sequence_sql(), [order.pk])
        (order.sequence,) = cursor.fetchone()
    return order.sequence


# --- A new order and its first history row --------------------------------------------------


# One statement, a transaction of its own: one round trip where the ORM needs four (BEGIN, two
# INSERTs, COMMIT), and no INSERT for Django to compile: the largest costs of POST /order after
# the publish (docs/performance.md). A number already taken inserts nothing and returns no row.
# With subscribers, the same statement writes the deliveries of order.created.
@functools.cache
def _insert_order_sql(subscribers: int) -> str:
    deliveries = _deliveries_cte(subscribers=subscribers, orders="new_order", named=True)
    return f"""
        WITH new_order AS (
            INSERT INTO orders_order (number, name, address, price, payment_method, state,
                                      state_changed_at, payment_requested_at, created_at,
                                      updated_at, sequence)
            VALUES (%(number)s, %(name)s, %(address)s, %(price)s, %(payment_method)s, %(state)s,
                    %(now)s, %(now)s, %(now)s, %(now)s, 1)
            ON CONFLICT (number) DO NOTHING
            RETURNING id, number, sequence
        ), noted AS (
            INSERT INTO orders_orderstatechange (order_id, from_state, to_state, reason,
                                                 created_at)
            SELECT id, NULL, %(state)s, %(reason)s, %(now)s FROM new_order
            RETURNING order_id, id AS change_id, to_state, created_at AS at
        ){deliveries}
        SELECT order_id FROM noted
    """  # noqa: S608 (only names from _meta are formatted in)


def order_insert_with_history(order: Order, *, reason: str, subscribers: Subscribers = ()) -> bool:
    """Insert the new `order` (every field set, its clocks equal to created_at) and its first
    history row, and the deliveries of its creation to `subscribers`, atomically; False if its
    number is taken. The order gets its id."""
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
            **_subscriber_params(subscribers),
        }
        # As save() does for its INSERT: inside a caller's transaction (an Idempotency-Key
        # request), any other failure (a CHECK constraint) marks it for rollback.
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(_insert_order_sql(len(subscribers)), params)
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
            change = OrderStateChange.objects.create(
                order=order,
                from_state=None,
                to_state=order.state,
                reason=reason,
                created_at=order.created_at,
            )
            _history_deliveries_insert(subscribers=subscribers, order=order, change=change)
    except IntegrityError:
        if not Order.objects.filter(number=order.number).exists():
            raise
        return False
    return True


# --- Transitions (orders/transitions.py) ----------------------------------------------------


def _transitioned_columns(to_state: str, now: datetime) -> dict:
    """The UPDATE of a transition in the SQLite twins: the statements' SET, for the ORM."""
    return {
        "state": to_state,
        "state_changed_at": now,
        "updated_at": now,
        "sequence": models.F("sequence") + 1,
    }


# Why the state is checked on the locked row (`current`) rather than in the UPDATE's WHERE: with
# statistics taken while few orders were `created` (a quiet hour, then a burst or a Payments
# outage), the planner answers `… AND state = 'created'` from the partial index of created
# orders and walks all of them: 3 ms with 30,000 waiting instead of 0.05 ms, growing with the
# backlog (docs/performance.md). Found by primary key, the rows have one plan whatever the
# statistics; FOR UPDATE makes a concurrent transition wait and then see the state it committed.
@functools.cache
def _transition_one_sql(subscribers: int = 0) -> str:
    t = _quoted_names()
    deliveries = _deliveries_cte(subscribers=subscribers, orders="changed", named=True)
    return f"""
        WITH current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.number"]} = %(number)s FOR UPDATE
        ), changed AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = %(to_state)s,
                {t["order.state_changed_at"]} = %(now)s, {t["order.updated_at"]} = %(now)s,
                {t["order.sequence"]} = o.{t["order.sequence"]} + 1
            FROM current
            WHERE o.{t["order.id"]} = current.id AND current.state = %(from_state)s
            RETURNING o.*
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT {t["order.id"]}, %(from_state)s, %(to_state)s, %(reason)s, %(now)s
            FROM changed
            RETURNING {t["change.order"]} AS order_id, {t["change.id"]} AS change_id,
                {t["change.to_state"]} AS to_state, {t["change.created_at"]} AS at
        ){deliveries}
        SELECT * FROM changed
    """  # noqa: S608 (only names from _meta are formatted in)


def order_transition_from(
    *,
    order_number: str,
    from_state: str,
    to_state: str,
    reason: str,
    now: datetime,
    subscribers: Subscribers = (),
) -> Order | None:
    """The compare-and-set of one order from `from_state` to `to_state`, with its history row
    and its deliveries to `subscribers`; the order as it is now, or None if it was not in
    `from_state`. Atomic on its own."""
    if connection.vendor == "postgresql":
        params = {
            "number": order_number,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "now": now,
            **_subscriber_params(subscribers),
        }
        # One statement: one round trip where the ORM needs five.
        changed = list(Order.objects.raw(_transition_one_sql(len(subscribers)), params))
        return changed[0] if changed else None
    # SQLite's twin: its single writer makes the UPDATE's WHERE the compare-and-set.
    with transaction.atomic():
        if not Order.objects.filter(number=order_number, state=from_state).update(
            **_transitioned_columns(to_state, now)
        ):
            return None
        order = Order.objects.get(number=order_number)
        change = OrderStateChange.objects.create(
            order=order, from_state=from_state, to_state=to_state, reason=reason, created_at=now
        )
        _history_deliveries_insert(subscribers=subscribers, order=order, change=change)
    return order


@functools.cache
def _transition_many_sql(rows: int, subscribers: int = 0) -> str:
    t = _quoted_names()
    deliveries = _deliveries_cte(subscribers=subscribers, orders="changed", named=False)
    # CASTs type the VALUES list; both backends know them, only PostgreSQL needs them.
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS varchar(16)), %s)"] * rows)
    return f"""
        WITH wanted (id, to_state, reason) AS (VALUES {values}),
        current AS MATERIALIZED (
            SELECT {t["order.id"]} AS id, {t["order.state"]} AS state FROM {t["order"]}
            WHERE {t["order.id"]} IN (SELECT id FROM wanted) FOR UPDATE
        ), changed AS (
            UPDATE {t["order"]} AS o SET {t["order.state"]} = wanted.to_state,
                {t["order.state_changed_at"]} = %s, {t["order.updated_at"]} = %s,
                {t["order.sequence"]} = o.{t["order.sequence"]} + 1
            FROM current JOIN wanted ON wanted.id = current.id
            WHERE o.{t["order.id"]} = current.id AND current.state = %s
            RETURNING o.{t["order.id"]} AS id, wanted.to_state, wanted.reason,
                o.{t["order.number"]} AS number, o.{t["order.sequence"]} AS sequence
        ), noted AS (
            INSERT INTO {t["change"]} ({t["change.order"]}, {t["change.from_state"]},
                {t["change.to_state"]}, {t["change.reason"]}, {t["change.created_at"]})
            SELECT id, %s, to_state, reason, %s FROM changed
            RETURNING {t["change.order"]} AS order_id, {t["change.id"]} AS change_id,
                {t["change.to_state"]} AS to_state, {t["change.created_at"]} AS at
        ){deliveries}
        SELECT id FROM changed
    """  # noqa: S608 (only names from _meta are formatted in)


def orders_transition_many_from(
    *,
    from_state: str,
    transitions: Sequence[Transition],
    now: datetime,
    subscribers: Subscribers = (),
) -> set[int]:
    """The set-based compare-and-set of many orders from `from_state`, each to its own
    `to_state`, with one history row each and the deliveries to `subscribers` that want
    order.<to_state>; the ids of the orders that were in `from_state` (and changed). The order
    ids must be distinct. Atomic on its own."""
    if connection.vendor == "postgresql":
        params: list = []
        for transition in transitions:
            params += [transition.order_id, transition.to_state, transition.reason]
        params += [now, now, from_state, from_state, now]
        for pair in subscribers:
            params += pair
        sql = _transition_many_sql(len(transitions), len(subscribers))
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(sql, params)
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
            Order.objects.filter(id__in=ids).update(**_transitioned_columns(to_state, now))
        history = OrderStateChange.objects.bulk_create(
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
        if subscribers and history:
            orders = Order.objects.in_bulk([change.order_id for change in history])
            for change in history:
                _history_deliveries_insert(
                    subscribers=subscribers, order=orders[change.order_id], change=change
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


# --- Claims of webhook deliveries (orders/webhooks/sender.py) -------------------------------


class ClaimedDelivery(NamedTuple):
    """A claimed delivery with all that sending it needs, as plain values: its endpoint and
    secret, and what its payload says (orders/webhooks/payloads.py) of the order and of its
    change's history row or event (None where it has none; a test message has neither)."""

    id: int
    subscription_id: int
    url: str
    secret: str
    message_id: str
    event_type: str
    attempts: int
    created_at: datetime
    sequence: int
    order_state: str
    order_updated_at: datetime | None
    order_number: str | None
    order_name: str | None
    order_address: str | None
    order_price: Decimal | None
    order_payment_method: str | None
    order_created_at: datetime | None
    change_from_state: str | None
    change_to_state: str | None
    change_reason: str | None
    change_at: datetime | None
    event_kind: str | None
    event_detail: str | None
    event_data: Any
    event_transaction_id: str | None
    event_actor: str | None
    event_at: datetime | None


# ClaimedDelivery's fields, in its order, as lookups from a delivery.
_CLAIMED_LOOKUPS = (
    "id",
    "subscription_id",
    "subscription__url",
    "subscription__secret",
    "message_id",
    "event_type",
    "attempts",
    "created_at",
    "sequence",
    "order_state",
    "order_updated_at",
    "order__number",
    "order__name",
    "order__address",
    "order__price",
    "order__payment_method",
    "order__created_at",
    "state_change__from_state",
    "state_change__to_state",
    "state_change__reason",
    "state_change__created_at",
    "event__kind",
    "event__detail",
    "event__data",
    "event__transaction_id",
    "event__actor",
    "event__created_at",
)
assert len(_CLAIMED_LOOKUPS) == len(ClaimedDelivery._fields)
# The alias, in the claim's SELECT, of the table each lookup's relation reads.
_CLAIMED_ALIASES = {
    "": "claimed",
    "subscription": "s",
    "order": "o",
    "state_change": "c",
    "event": "e",
}


def _claimed_column(lookup: str) -> str:
    relation, _, name = lookup.rpartition("__")
    model = WebhookDelivery._meta.get_field(relation).related_model if relation else WebhookDelivery
    column = model._meta.get_field(name).column
    return f"{_CLAIMED_ALIASES[relation]}.{connection.ops.quote_name(column)}"


@functools.cache
def _deliveries_claim_update_sql(*, skip_locked: bool) -> str:
    """The claim itself: the due deliveries (the rule of _due() in orders/webhooks/sender.py,
    which the tests compare), oldest next_attempt_at first, moved to the end of the lease and
    marked with their claimant. Without RETURNING: each backend says what it returns."""
    quote = connection.ops.quote_name
    fields = WebhookDelivery._meta

    def column(name: str) -> str:
        return quote(fields.get_field(name).column)

    table, subscription = quote(fields.db_table), quote(WebhookSubscription._meta.db_table)
    status, sequence = column("status"), column("sequence")
    lock = "FOR UPDATE OF d SKIP LOCKED" if skip_locked else ""
    return f"""
        UPDATE {table} SET {column("next_attempt_at")} = %s, {column("claimed_by")} = %s
        WHERE {column("id")} IN (
            SELECT d.{column("id")} FROM {table} AS d
            JOIN {subscription} AS s ON s.{quote("id")} = d.{column("subscription")}
            WHERE d.{status} = %s AND d.{column("next_attempt_at")} <= %s AND s.{quote("active")}
            AND NOT EXISTS (
                SELECT 1 FROM {table} AS earlier
                WHERE earlier.{column("subscription")} = d.{column("subscription")}
                AND earlier.{column("order")} = d.{column("order")}
                AND earlier.{status} = %s AND earlier.{sequence} < d.{sequence}
            )
            ORDER BY d.{column("next_attempt_at")} LIMIT %s {lock}
        )
    """  # noqa: S608 (only names from _meta are formatted in)


@functools.cache
def _deliveries_claim_sql() -> str:
    """PostgreSQL's claim in one statement: the UPDATE, and ClaimedDelivery's values read
    beside it."""
    quote = connection.ops.quote_name
    fields = WebhookDelivery._meta
    joins = []
    for relation, alias in _CLAIMED_ALIASES.items():
        if relation:
            link = fields.get_field(relation)
            table = quote(link.related_model._meta.db_table)
            joins.append(
                f"{'LEFT JOIN' if link.null else 'JOIN'} {table} AS {alias} "
                f"ON {alias}.{quote(link.target_field.column)} = claimed.{quote(link.column)}"
            )
    columns = ", ".join(_claimed_column(lookup) for lookup in _CLAIMED_LOOKUPS)
    return f"""
        WITH claimed AS ({_deliveries_claim_update_sql(skip_locked=True)} RETURNING *)
        SELECT {columns} FROM claimed {" ".join(joins)}
        ORDER BY claimed.{quote(fields.pk.column)}
    """  # noqa: S608 (only names from _meta are formatted in)


def webhook_deliveries_claim(
    *, due_by: datetime, claimed_until: datetime, claimant: str, limit: int
) -> list[ClaimedDelivery]:
    """Claim up to `limit` deliveries due by `due_by`, oldest next_attempt_at first: move their
    next_attempt_at to `claimed_until` and record `claimant`; return them by id, with what
    sending them needs. PostgreSQL: one statement, SKIP LOCKED (other senders claim at the same
    time), one round trip where the ORM needs five. SQLite (one writer): the same UPDATE, then
    webhook_deliveries_read()."""
    params = [
        claimed_until,
        claimant,
        DeliveryStatus.PENDING,
        due_by,
        DeliveryStatus.PENDING,
        limit,
    ]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_deliveries_claim_sql(), params)
            rows = cursor.fetchall()
        # Django reads jsonb as text (JSONField decodes it); so does this cursor.
        data = ClaimedDelivery._fields.index("event_data")
        return [
            ClaimedDelivery(*row[:data], row[data] and json.loads(row[data]), *row[data + 1 :])
            for row in rows
        ]
    with connection.cursor() as cursor:
        update = _deliveries_claim_update_sql(skip_locked=False)
        cursor.execute(f"{update} RETURNING {connection.ops.quote_name('id')}", params)
        ids = [row[0] for row in cursor.fetchall()]
    return webhook_deliveries_read(ids)


def webhook_deliveries_read(ids: Sequence[int]) -> list[ClaimedDelivery]:
    """These deliveries as a claim returns them, by id, without claiming them: SQLite's second
    step of a claim (the ORM converts its values), and a stored delivery's body for the tests."""
    rows = WebhookDelivery.objects.filter(id__in=ids).order_by("id")
    return [ClaimedDelivery(*row) for row in rows.values_list(*_CLAIMED_LOOKUPS)]
