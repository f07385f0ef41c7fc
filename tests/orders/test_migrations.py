"""Migration 0003's data move: the history rows that changed no state (notes, before events
existed) become OrderEvents, and back. Run against the test database with Django's
MigrationExecutor; the database is migrated to the latest state again after each test."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)  # schema changes, committed for real

BEFORE = [("orders", "0002_idempotency_keys_and_refunds")]
AFTER = [("orders", "0003_order_events")]
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOT_NEEDED = "no refund needed: no payment was taken (payment_not_found)"

# (order number, final state, its history: from, to, reason), notes included.
OLD_HISTORY = {
    "late0001": (
        "cancelled",
        [
            (None, "created", "order created"),
            ("created", "cancelled", "cancelled by customer"),
            ("cancelled", "cancelled", "payment confirmed after cancellation (tx-late)"),
            ("cancelled", "cancelled", "payment refunded (tx-refund)"),
        ],
    ),
    "none0001": (
        "cancelled",
        [
            (None, "created", "order created"),
            ("created", "cancelled", "cancelled by customer"),
            (
                "cancelled",
                "cancelled",
                "no refund needed: no payment was taken (payment_not_found)",
            ),
            ("cancelled", "cancelled", "payment declined after cancellation (tx-d)"),
        ],
    ),
    "paid0001": (
        "confirmed",
        [
            (None, "created", "order created"),
            ("created", "confirmed", "payment confirmed (tx-paid)"),
            ("confirmed", "confirmed", "checked by hand"),
        ],
    ),
}
EVENTS = {  # what each note becomes: kind, detail, transaction id
    "late0001": [
        ("payment_after_cancellation", "payment confirmed after cancellation", "tx-late"),
        ("refunded", "payment refunded", "tx-refund"),
    ],
    "none0001": [
        ("refund_not_needed", NOT_NEEDED, ""),
        ("payment_after_cancellation", "payment declined after cancellation", "tx-d"),
    ],
    "paid0001": [("note", "checked by hand", "")],
}


@pytest.fixture
def migrate():
    """Migrate the test database to `targets` and return the app registry of that state."""

    def to(targets):
        executor = MigrationExecutor(connection)
        executor.migrate(targets)
        return MigrationExecutor(connection).loader.project_state(targets).apps

    yield to
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # whatever the test left behind


def write_old_history(apps) -> None:
    Order, Change = apps.get_model("orders", "Order"), apps.get_model("orders", "OrderStateChange")
    for number, (state, rows) in OLD_HISTORY.items():
        order = Order.objects.create(
            number=number, name="Ada", address="1 Loop Road", price="12.50", state=state
        )
        for step, (from_state, to_state, reason) in enumerate(rows):
            Change.objects.create(
                order=order,
                from_state=from_state,
                to_state=to_state,
                reason=reason,
                created_at=T0 + timedelta(seconds=step),
            )


def history(apps) -> dict[str, list[tuple]]:
    Change = apps.get_model("orders", "OrderStateChange")
    rows = Change.objects.order_by("id").values_list(
        "order__number", "from_state", "to_state", "reason", "created_at"
    )
    by_number: dict[str, list[tuple]] = {}
    for number, *row in rows:
        by_number.setdefault(number, []).append(tuple(row))
    return by_number


def old_history_as_written() -> dict[str, list[tuple]]:
    return {
        number: [(*row, T0 + timedelta(seconds=step)) for step, row in enumerate(rows)]
        for number, (_, rows) in OLD_HISTORY.items()
    }


def test_migration_0003_moves_the_notes_into_events(migrate):
    write_old_history(migrate(BEFORE))

    apps = migrate(AFTER)

    # The history keeps the changes of state, untouched; the notes are gone from it.
    changes = {
        number: [row for row in rows if row[0] != row[1]]
        for number, rows in old_history_as_written().items()
    }
    assert history(apps) == changes
    Event = apps.get_model("orders", "OrderEvent")
    events = Event.objects.order_by("id")
    for number, expected in EVENTS.items():
        mine = events.filter(order__number=number)
        assert list(mine.values_list("kind", "detail", "transaction_id")) == expected
        # Each keeps the time of its note.
        times = [row[-1] for row in old_history_as_written()[number] if row[0] == row[1]]
        assert list(mine.values_list("created_at", flat=True)) == times
    payments = events.exclude(kind="note").values_list("actor", flat=True)
    assert set(payments) == {"payments"}


def test_migration_0003_backwards_turns_the_events_into_notes_again(migrate):
    write_old_history(migrate(BEFORE))
    migrate(AFTER)

    apps = migrate(BEFORE)

    # The same rows as before the migration, notes back at the end of each order's history (a
    # history in which notes came before later changes of state would not keep their places).
    assert history(apps) == old_history_as_written()


def test_migration_0003_leaves_an_order_without_notes_alone(migrate):
    apps = migrate(BEFORE)
    Order, Change = apps.get_model("orders", "Order"), apps.get_model("orders", "OrderStateChange")
    order = Order.objects.create(number="plain001", name="Ada", address="1 Loop", price="1.00")
    Change.objects.create(order=order, from_state=None, to_state="created", reason="order created")
    rows_before = history(apps)

    apps = migrate(AFTER)

    assert history(apps) == rows_before
    assert not apps.get_model("orders", "OrderEvent").objects.exists()
