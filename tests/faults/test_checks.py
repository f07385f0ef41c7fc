"""The checker itself, on made-up snapshots (no processes): a check that can never fire would
make every scenario pass."""

from decimal import Decimal

import pytest
from fault_checks import (
    Move,
    OrderRow,
    PaymentRow,
    Snapshot,
    assess,
    clean_orders,
    race_outcomes,
    unsettled,
)
from fault_report import Row, format_table

ALLOWED = {
    "created": ["cancelled", "confirmed"],
    "confirmed": ["cancelled", "delivered"],
    "delivered": [],
    "cancelled": [],
}
PRICE = Decimal("10.00")
TX1, TX2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
CREATED = Move(None, "created", "order created")
CONFIRMED = [CREATED, Move("created", "confirmed", f"payment confirmed ({TX1})")]
BY_CUSTOMER = Move("created", "cancelled", "cancelled by customer")
DECLINED = Move("created", "cancelled", f"payment declined ({TX1})")
LATE = Move("cancelled", "cancelled", f"payment confirmed after cancellation ({TX1})")


def snapshot(orders: dict, payments: dict | None = None) -> Snapshot:
    """orders: number -> (state, history) or (state, history, refund_due, refunded);
    payments: number -> [(status, transaction id)]."""
    snap = Snapshot({}, {}, {})
    for order_id, (number, (state, history, *refund)) in enumerate(orders.items(), 1):
        snap.orders[number] = OrderRow(order_id, state, PRICE, *refund)
        snap.history[order_id] = [Move(*m) for m in history]
    for number, rows in (payments or {}).items():
        snap.payments[number] = [PaymentRow(i, s, PRICE, tx) for i, (s, tx) in enumerate(rows, 1)]
    return snap


def check(snap: Snapshot, posted=()) -> Row:
    return assess(
        Row("t"),
        snap,
        scope=snap.orders,
        posted=list(posted),
        since_order_id=0,
        since_payment_id=0,
        allowed=ALLOWED,
    )


def test_checks_a_clean_order_has_no_violation():
    snap = snapshot({"a": ("confirmed", CONFIRMED)}, {"a": [("confirmed", TX1)]})
    assert check(snap, posted=["a"]).violations() == {}
    assert unsettled(snap, snap.orders) == 0
    assert clean_orders(snap, ALLOWED) == ["a"]


@pytest.mark.parametrize(
    ("orders", "payments", "posted", "expected"),
    [
        ({}, {}, ["gone"], "lost"),
        ({"a": ("created", [CREATED])}, {}, ["a"], "stuck"),
        (
            {"a": ("confirmed", CONFIRMED)},
            {"a": [("confirmed", TX1), ("confirmed", TX2)]},
            ["a"],
            "double_charged",
        ),
        (
            {"a": ("cancelled", [*CONFIRMED, Move("confirmed", "cancelled", "by customer")])},
            {"a": [("confirmed", TX1)]},
            ["a"],
            "cancelled_but_charged",
        ),
        ({"a": ("delivered", [CREATED, Move("created", "delivered", "?")])}, {}, ["a"], "illegal"),
        ({"a": ("confirmed", [Move("created", "confirmed", "?")])}, {}, ["a"], "illegal"),
        ({"a": ("cancelled", CONFIRMED)}, {"a": [("confirmed", TX1)]}, ["a"], "illegal"),
        (
            {"a": ("cancelled", [CREATED, BY_CUSTOMER, Move("confirmed", "cancelled", "?")])},
            {},
            ["a"],
            "illegal",
        ),
        ({"a": ("confirmed", CONFIRMED)}, {"a": [("declined", TX1)]}, ["a"], "inconsistent"),
        ({"a": ("confirmed", CONFIRMED)}, {"a": [("confirmed", TX2)]}, ["a"], "inconsistent"),
        ({"a": ("delivered", CONFIRMED)}, {"a": [("refunded", TX1)]}, ["a"], "inconsistent"),
        (
            {
                "a": (
                    "cancelled",
                    [CREATED, Move("created", "cancelled", f"payment declined ({TX1})")],
                )
            },
            {"a": [("confirmed", TX1)]},
            ["a"],
            "inconsistent",
        ),
        (
            {"a": ("cancelled", [CREATED, BY_CUSTOMER, LATE], False, True)},
            {"a": [("confirmed", TX1)]},
            ["a"],
            "inconsistent",
        ),
        ({}, {"x": [("confirmed", TX1)]}, [], "inconsistent"),  # a charge without an order
    ],
)
def test_checks_each_violation_is_counted(orders, payments, posted, expected):
    snap = snapshot(orders, payments)
    row = check(snap, posted)
    assert expected in row.violations()
    assert not set(clean_orders(snap, ALLOWED)) & set(posted)
    assert row.examples
    assert "total" in format_table([row])


def test_checks_a_late_confirmation_settles_only_once_refunded():
    history = [CREATED, BY_CUSTOMER, LATE]
    charged = snapshot({"a": ("cancelled", history)}, {"a": [("confirmed", TX1)]})
    due = snapshot({"a": ("cancelled", history, True)}, {"a": [("refunded", TX1)]})
    refunded = snapshot({"a": ("cancelled", history, False, True)}, {"a": [("refunded", TX1)]})
    assert unsettled(charged, charged.orders) == 1
    assert unsettled(due, due.orders) == 1
    assert unsettled(refunded, refunded.orders) == 0
    assert check(refunded, ["a"]).violations() == {}
    assert race_outcomes(refunded, ["a"]) == {"cancelled in flight, payment confirmed late": 1}
