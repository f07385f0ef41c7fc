"""The checker itself, on made-up snapshots (no processes): a check that can never fire would
make every scenario pass."""

from decimal import Decimal

import pytest
from fault_checks import (
    Answer,
    answer_problems,
    assess,
    clean_orders,
    race_outcomes,
    unsettled,
)
from fault_report import Row, format_table
from fault_snapshot import Event, OrderRow, PaymentRow, Snapshot, Transition

ALLOWED = {
    "created": ["cancelled", "confirmed"],
    "confirmed": ["cancelled", "delivered"],
    "delivered": [],
    "cancelled": [],
}
PRICE, OTHER_PRICE = Decimal("10.00"), Decimal("11.00")
TX1, TX2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
CREATED = Transition(None, "created", "order created")
CONFIRMED = [CREATED, Transition("created", "confirmed", f"payment confirmed ({TX1})")]
BY_CUSTOMER = Transition("created", "cancelled", "cancelled by customer")
DECLINED = [CREATED, Transition("created", "cancelled", f"payment declined ({TX1})")]
LATE_CONFIRMED = Event("payment_after_cancellation", "payment confirmed after cancellation", TX1)
LATE_DECLINED = Event("payment_after_cancellation", "payment declined after cancellation", TX1)
REFUNDED = Event("refunded", "payment refunded", TX1)
NO_PAYMENT = Event(
    "refund_not_needed", "no refund needed: no payment was taken (payment_not_found)"
)
WAS_DECLINED = Event(
    "refund_not_needed", "no refund needed: the payment was declined (payment_not_refundable)"
)


def snapshot(orders: dict, payments: dict | None = None, events: dict | None = None) -> Snapshot:
    """orders: number -> (state, history) or (state, history, refund_due, refunded);
    payments: number -> [(status, transaction id)] or [(status, transaction id, amount)];
    events: number -> [Event]."""
    snap = Snapshot({}, {}, {}, {})
    ids = {}
    for order_id, (number, (state, history, *refund)) in enumerate(orders.items(), 1):
        snap.orders[number] = OrderRow(order_id, state, PRICE, *refund)
        snap.history[order_id] = [Transition(*m) for m in history]
        ids[number] = order_id
    for number, rows in (payments or {}).items():
        snap.payments[number] = [
            PaymentRow(i, status, amount[0] if amount else PRICE, tx)
            for i, (status, tx, *amount) in enumerate(rows, 1)
        ]
    for number, rows in (events or {}).items():
        snap.events[ids[number]] = list(rows)
    return snap


def check(snap: Snapshot, posted=(), refused=None) -> Row:
    return assess(
        Row("t"),
        snap,
        scope=snap.orders,
        posted=list(posted),
        since_order_id=0,
        since_payment_id=0,
        allowed=ALLOWED,
        refused=refused,
    )


def test_checks_a_clean_order_has_no_violation():
    snap = snapshot({"a": ("confirmed", CONFIRMED)}, {"a": [("confirmed", TX1)]})
    assert check(snap, posted=["a"]).violations() == {}
    assert unsettled(snap, snap.orders) == 0
    assert clean_orders(snap, ALLOWED) == ["a"]


CANCELLED = [CREATED, BY_CUSTOMER]
LATE_AND_REFUNDED = ("cancelled", CANCELLED, False, True)


@pytest.mark.parametrize(
    ("orders", "payments", "events", "expected"),
    [
        ({"a": ("created", [CREATED])}, {}, {}, "stuck"),
        (
            {"a": ("confirmed", CONFIRMED)},
            {"a": [("confirmed", TX1), ("confirmed", TX2)]},
            {},
            "double_charged",
        ),
        (
            {"a": ("cancelled", [*CONFIRMED, Transition("confirmed", "cancelled", "by customer")])},
            {"a": [("confirmed", TX1)]},
            {},
            "cancelled_but_charged",
        ),
        (
            {"a": ("delivered", [CREATED, Transition("created", "delivered", "?")])},
            {},
            {},
            "illegal",
        ),
        ({"a": ("confirmed", [Transition("created", "confirmed", "?")])}, {}, {}, "illegal"),
        ({"a": ("cancelled", CONFIRMED)}, {"a": [("confirmed", TX1)]}, {}, "illegal"),
        (
            {"a": ("cancelled", [*CANCELLED, Transition("confirmed", "cancelled", "?")])},
            {},
            {},
            "illegal",
        ),
        # A row that changes no state (what a note was before events) is no part of the path.
        (
            {"a": ("cancelled", [*CANCELLED, Transition("cancelled", "cancelled", "note")])},
            {},
            {},
            "illegal",
        ),
        (
            {"a": ("confirmed", [*CONFIRMED, Transition("confirmed", "confirmed", "?")])},
            {"a": [("confirmed", TX1)]},
            {},
            "illegal",
        ),
        ({"a": ("confirmed", CONFIRMED)}, {"a": [("declined", TX1)]}, {}, "inconsistent"),
        ({"a": ("confirmed", CONFIRMED)}, {"a": [("confirmed", TX2)]}, {}, "inconsistent"),
        ({"a": ("delivered", CONFIRMED)}, {"a": [("refunded", TX1)]}, {}, "inconsistent"),
        ({"a": ("cancelled", DECLINED)}, {"a": [("confirmed", TX1)]}, {}, "inconsistent"),
        ({}, {"x": [("confirmed", TX1)]}, {}, "inconsistent"),  # a charge without an order
        # Orders recorded a refund that Payments does not show.
        (
            {"a": LATE_AND_REFUNDED},
            {"a": [("confirmed", TX1)]},
            {"a": [LATE_CONFIRMED, REFUNDED]},
            "inconsistent",
        ),
        # The refund's event and refunded_at disagree, either way.
        (
            {"a": ("cancelled", CANCELLED)},
            {"a": [("refunded", TX1)]},
            {"a": [LATE_CONFIRMED, REFUNDED]},
            "inconsistent",
        ),
        ({"a": LATE_AND_REFUNDED}, {"a": [("refunded", TX1)]}, {"a": []}, "inconsistent"),
        # Payments refunded a charge Orders never recorded as refunded.
        ({"a": ("cancelled", CANCELLED)}, {"a": [("refunded", TX1)]}, {}, "inconsistent"),
        # A late result other than what Payments stored, or of another transaction.
        (
            {"a": ("cancelled", CANCELLED)},
            {"a": [("declined", TX1)]},
            {"a": [LATE_CONFIRMED]},
            "inconsistent",
        ),
        (
            {"a": ("cancelled", CANCELLED)},
            {"a": [("declined", TX2)]},
            {"a": [LATE_DECLINED]},
            "inconsistent",
        ),
        # The result that cancelled the order, recorded as a late one as well.
        (
            {"a": ("cancelled", DECLINED)},
            {"a": [("declined", TX1)]},
            {"a": [LATE_DECLINED]},
            "inconsistent",
        ),
        # The same fact twice.
        (
            {"a": ("cancelled", CANCELLED)},
            {"a": [("declined", TX1)]},
            {"a": [LATE_DECLINED, LATE_DECLINED]},
            "inconsistent",
        ),
        ({"a": ("cancelled", CANCELLED)}, {}, {"a": [NO_PAYMENT, NO_PAYMENT]}, "inconsistent"),
        # "Nothing to refund" where Payments shows a charge.
        (
            {"a": ("cancelled", CANCELLED)},
            {"a": [("refunded", TX1)]},
            {"a": [NO_PAYMENT]},
            "inconsistent",
        ),
        ({"a": ("cancelled", CANCELLED)}, {}, {"a": [WAS_DECLINED]}, "inconsistent"),
        (
            {"a": ("cancelled", CANCELLED)},
            {},
            {"a": [Event("refund_not_needed", "no refund needed: ? (other_code)")]},
            "inconsistent",
        ),
        # Events belong to cancelled orders only, and to the kinds the code writes.
        (
            {"a": ("confirmed", CONFIRMED)},
            {"a": [("confirmed", TX1)]},
            {"a": [LATE_CONFIRMED]},
            "inconsistent",
        ),
        (
            {"a": ("cancelled", CANCELLED)},
            {},
            {"a": [Event("note", "cancelled by an operator")]},
            "inconsistent",
        ),
    ],
)
def test_checks_each_violation_is_counted(orders, payments, events, expected):
    snap = snapshot(orders, payments, events)
    row = check(snap, list(orders) or ["gone"])
    assert expected in row.violations()
    assert not set(clean_orders(snap, ALLOWED)) & set(orders)
    assert row.examples
    assert "total" in format_table([row])


def test_checks_a_lost_order_is_counted():
    row = check(snapshot({}), posted=["gone"])
    assert row.violations() == {"lost": 1}


def test_checks_a_late_confirmation_settles_only_once_refunded():
    charged = snapshot(
        {"a": ("cancelled", CANCELLED)}, {"a": [("confirmed", TX1)]}, {"a": [LATE_CONFIRMED]}
    )
    due = snapshot(
        {"a": ("cancelled", CANCELLED, True)}, {"a": [("refunded", TX1)]}, {"a": [LATE_CONFIRMED]}
    )
    refunded = snapshot(
        {"a": LATE_AND_REFUNDED}, {"a": [("refunded", TX1)]}, {"a": [LATE_CONFIRMED, REFUNDED]}
    )
    assert unsettled(charged, charged.orders) == 1
    assert unsettled(due, due.orders) == 1
    assert unsettled(refunded, refunded.orders) == 0
    assert check(refunded, ["a"]).violations() == {}
    assert clean_orders(refunded, ALLOWED) == ["a"]
    assert race_outcomes(refunded, ["a"]) == {"cancelled in flight, payment confirmed late": 1}


@pytest.mark.parametrize(
    ("payments", "events"),
    [
        ({}, [NO_PAYMENT]),  # cancelled before any charge
        ({"a": [("declined", TX1)]}, [NO_PAYMENT, LATE_DECLINED]),  # the decline came later
        ({"a": [("declined", TX1)]}, [LATE_DECLINED, WAS_DECLINED]),
    ],
)
def test_checks_nothing_to_refund_is_clean_when_payments_agrees(payments, events):
    snap = snapshot({"a": ("cancelled", CANCELLED)}, payments, {"a": events})
    assert check(snap, ["a"]).violations() == {}
    assert unsettled(snap, snap.orders) == 0


def test_checks_nothing_to_refund_then_a_late_confirmation_refunded_is_clean():
    events = [NO_PAYMENT, LATE_CONFIRMED, REFUNDED]
    snap = snapshot({"a": LATE_AND_REFUNDED}, {"a": [("refunded", TX1)]}, {"a": events})
    assert check(snap, ["a"]).violations() == {}


def test_checks_an_order_refused_on_purpose_is_expected_only_as_listed():
    refused_order = {"a": ("created", [CREATED])}
    paid_first = {"a": [("confirmed", TX1, OTHER_PRICE)]}
    snap = snapshot(refused_order, paid_first)
    assert check(snap, ["a"], refused={"a": OTHER_PRICE}).violations() == {}
    # Reconciliation's report of the payment made first is expected, once.
    reported = Event("amount_differs", "Payments has 11.00, the order 10.00", TX1)
    snap_reported = snapshot(refused_order, paid_first, {"a": [reported]})
    assert check(snap_reported, ["a"], refused={"a": OTHER_PRICE}).violations() == {}
    twice = snapshot(refused_order, paid_first, {"a": [reported, reported]})
    assert check(twice, ["a"], refused={"a": OTHER_PRICE}).violations() == {"inconsistent": 1}
    # Not listed: stuck, and charged another amount.
    assert check(snap, ["a"]).violations() == {"stuck": 1, "inconsistent": 1}
    # Listed with another amount than the one it was paid with.
    wrong_amount = check(snap, ["a"], refused={"a": Decimal("12.00")})
    assert wrong_amount.violations() == {"inconsistent": 1}


@pytest.mark.parametrize(
    ("orders", "payments", "events"),
    [
        ({"a": ("confirmed", CONFIRMED)}, {"a": [("confirmed", TX1, OTHER_PRICE)]}, {}),
        (
            {"a": ("created", [CREATED])},
            {"a": [("confirmed", TX1, OTHER_PRICE)]},
            {"a": [LATE_CONFIRMED]},
        ),
        ({"a": ("created", [CREATED])}, {}, {}),  # no payment made first
        (
            {"a": ("created", [CREATED])},
            {"a": [("confirmed", TX1, OTHER_PRICE), ("confirmed", TX2)]},
            {},
        ),
        ({"a": ("cancelled", CANCELLED)}, {"a": [("confirmed", TX1, OTHER_PRICE)]}, {}),
    ],
)
def test_checks_an_order_refused_on_purpose_must_stay_as_created(orders, payments, events):
    row = check(snapshot(orders, payments, events), ["a"], refused={"a": OTHER_PRICE})
    assert "inconsistent" in row.violations()
    assert "stuck" not in row.violations()


def test_checks_a_refused_order_outside_the_scope_is_counted():
    row = check(snapshot({}), refused={"zz": OTHER_PRICE})
    assert row.violations() == {"inconsistent": 1}


def test_checks_a_replay_after_the_refund_is_a_late_result_too():
    late = Event("payment_after_cancellation", "payment refunded after cancellation", TX1)
    events = [REFUNDED, late]  # one event of a kind per transaction: the first result only
    snap = snapshot({"a": LATE_AND_REFUNDED}, {"a": [("refunded", TX1)]}, {"a": events})
    assert check(snap, ["a"]).violations() == {}
    declined = snapshot({"a": ("cancelled", CANCELLED)}, {"a": [("declined", TX1)]}, {"a": [late]})
    assert check(declined, ["a"]).violations() == {"inconsistent": 1}


def test_checks_an_outage_answered_with_json_503_and_retry_after_is_clean():
    answers = [
        Answer("POST /order", 503, "application/json", "1"),
        Answer("GET /health/ready", 503, "application/json", "1"),
        Answer("GET /order/x", 200, "application/json"),
        Answer("GET /payment", 401, "application/json; charset=utf-8"),
    ]
    assert answer_problems(answers) == []


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Answer("POST /order", 500, "application/json"), "POST /order: 500"),
        (Answer("POST /order", 502, "application/json"), "POST /order: 502"),
        (Answer("GET /order/x", 503, "text/html", "1"), "GET /order/x: 503 text/html"),
        (Answer("GET /order/x", 404, ""), "GET /order/x: 404 no body type"),
        (Answer("POST /order", 503, "application/json"), "POST /order: 503 without Retry-After"),
        (Answer("GET /order", 503, "application/json", ""), "GET /order: 503 without Retry-After"),
        (Answer("GET /health/live", 0), "GET /health/live: no answer"),
    ],
)
def test_checks_each_bad_answer_is_a_problem(answer, problem):
    assert answer_problems([answer]) == [problem]
