"""Every hand-written SQL statement of Payments, each a named function; the callers keep the logic.

Both are one upsert that the ORM has no statement for, spoken alike by PostgreSQL and SQLite
(>= 3.35): INSERT ... ON CONFLICT ... RETURNING, one round trip, autocommitted. Table and column
names come from the models' _meta, values go as parameters.

tests/payments/test_db.py runs every statement on the database of the run."""

import functools

from django.db import connection, models, transaction

from payments.models import Payment, ProviderAttempt

# Host parameters per statement: SQLite (>= 3.32) takes 32766 by default, PostgreSQL 65535.
MAX_PARAMS = 32766


def chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- New payments ---------------------------------------------------------------------------


@functools.cache
def _insert_unless_paid_sql() -> tuple[str, str, str, list[models.Field]]:
    """The statement as head, one row's placeholders and tail, and the fields it writes, from
    Payment._meta; built once per process. Head + rows joined by ", " + tail is the statement."""
    meta = Payment._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    order_number = quote(meta.get_field("order_number").column)
    # Only names from Payment._meta are formatted in; the values go as parameters.
    head = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
    pk = quote(meta.pk.column)
    tail = f" ON CONFLICT ({order_number}) DO NOTHING RETURNING {order_number}, {pk}"
    return head, row, tail, fields


def payments_insert_unless_paid(payments: list[Payment]) -> set[str]:
    """Store each new payment unless its order number has one already; returns the order numbers
    of those stored (which get their pk). The order numbers must be distinct.

    One statement, autocommitted, is one round trip, for one payment (POST /payment) or many
    (POST /payment/batch, split past MAX_PARAMS): `INSERT ... VALUES (...), (...) ON CONFLICT
    (order_number) DO NOTHING RETURNING order_number, id`. Raw SQL because the ORM has no such
    statement: save() raises on the unique index (and then needs BEGIN/COMMIT or a savepoint
    around it), and bulk_create(ignore_conflicts=True) wraps itself in a transaction, returns no
    id, and on SQLite ignores every constraint (INSERT OR IGNORE), not only this one. The
    conflict is not an error, so an outer atomic() stays usable.
    """
    if not payments:
        return set()
    head, row, tail, fields = _insert_unless_paid_sql()
    # By order number: two batches sharing orders wait on each other's rows in the same order,
    # never each on the other's (a deadlock on PostgreSQL). The new ids follow that order too.
    payments = sorted(payments, key=lambda payment: payment.order_number)
    stored: dict[str, int] = {}
    # As save() does for its single INSERT: any other failure (a CHECK constraint) marks an
    # outer atomic() for rollback instead of leaving it silently broken.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        for chunk in chunks(payments, MAX_PARAMS // len(fields)):
            cursor.execute(head + ", ".join([row] * len(chunk)) + tail, _db_params(fields, chunk))
            stored.update(cursor.fetchall())
    for payment in payments:
        if payment.order_number in stored:
            payment.pk = stored[payment.order_number]
            payment._state.adding = False
            payment._state.db = connection.alias
    return set(stored)


def _db_params(fields: list[models.Field], payments: list[Payment]) -> list:
    """The payments' values, row after row, as save() sends them (UUID as hex on SQLite, Decimal
    and datetimes adapted by the backend); Payment() has filled in the defaults. A value that is
    the very object of the row before (a batch's timestamps, the empty refund time) is adapted
    once: datetimes cost the most to adapt, and every row of a batch has the same ones."""
    params = []
    previous: list[tuple[object, object]] = [(object(), None)] * len(fields)
    for payment in payments:
        for index, field in enumerate(fields):
            value = field.pre_save(payment, add=True)
            if value is not previous[index][0]:
                previous[index] = (value, field.get_db_prep_save(value, connection))
            params.append(previous[index][1])
    return params


# --- Attempts of the test payment methods (payments/providers/testing.py) -------------------


@functools.cache
def _attempt_upsert_sql() -> str:
    meta, quote = ProviderAttempt._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    method, number, attempts = (
        quote(meta.get_field(name).column) for name in ("method", "order_number", "attempts")
    )
    # Only names from ProviderAttempt._meta are formatted in; the values go as parameters.
    return (
        f"INSERT INTO {table} ({method}, {number}, {attempts}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({method}, {number}) DO UPDATE SET {attempts} = {table}.{attempts} + 1 "
        f"RETURNING {attempts}"
    )


def provider_attempt_count(*, method: str, order_number: str) -> int:
    """Count one more attempt of `method` for this order; return the count, this one included.
    One autocommitted upsert: two workers counting at once get 1 and 2, never 1 and 1."""
    with connection.cursor() as cursor:
        cursor.execute(_attempt_upsert_sql(), [method, order_number])
        return cursor.fetchone()[0]
