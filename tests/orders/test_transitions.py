"""The transition gate (orders/transitions.py). orders_transition_many: the set-based gate a batch
of payment results and the delivery sweep go through, one compare-and-set for the batch, one
history row per transition; order_transition: one order, and the state machine it enforces."""

import itertools
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import db, services, transitions
from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import ALLOWED_TRANSITIONS, Order, OrderState, OrderStateChange, sources_of
from orders.transitions import Transition

pytestmark = pytest.mark.django_db


def states(*orders) -> list[str]:
    found = Order.objects.in_bulk([order.pk for order in orders])
    return [found[order.pk].state for order in orders]


def test_orders_transition_many_takes_each_order_to_its_own_state(make_order):
    paid, declined, other = make_order(), make_order(), make_order()

    changed = transitions.orders_transition_many(
        from_state=OrderState.CREATED,
        transitions=[
            Transition(paid.pk, OrderState.CONFIRMED, "payment confirmed (tx-1)"),
            Transition(declined.pk, OrderState.CANCELLED, "payment declined (tx-2)"),
            Transition(other.pk, OrderState.CONFIRMED, "payment confirmed (tx-3)"),
        ],
    )

    assert changed == {paid.pk, declined.pk, other.pk}
    assert states(paid, declined, other) == ["confirmed", "cancelled", "confirmed"]
    for order, to_state, reason in [
        (paid, "confirmed", "payment confirmed (tx-1)"),
        (declined, "cancelled", "payment declined (tx-2)"),
        (other, "confirmed", "payment confirmed (tx-3)"),
    ]:
        rows = list(order.history.values_list("from_state", "to_state", "reason"))
        assert rows == [(None, "created", "order created"), ("created", to_state, reason)]


def test_orders_transition_many_writes_one_history_row_per_transition_at_its_time(make_order):
    orders = [make_order(state=OrderState.CONFIRMED) for _ in range(4)]
    rows_before = OrderStateChange.objects.count()

    transitions.orders_transition_many(
        from_state=OrderState.CONFIRMED,
        transitions=[
            Transition(order.pk, OrderState.DELIVERED, "delivery time reached") for order in orders
        ],
    )

    assert OrderStateChange.objects.count() == rows_before + len(orders)
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        [row] = order.history.filter(to_state=OrderState.DELIVERED)
        assert (row.from_state, row.reason) == ("confirmed", "delivery time reached")
        assert row.created_at == order.state_changed_at == order.updated_at


def test_orders_transition_many_leaves_orders_no_longer_in_the_source_state(make_order):
    waiting = make_order()
    cancelled = make_order(state=OrderState.CANCELLED)
    delivered = make_order(state=OrderState.DELIVERED)
    rows_before = {
        o.pk: list(o.history.values_list("id", flat=True)) for o in (cancelled, delivered)
    }

    changed = transitions.orders_transition_many(
        from_state=OrderState.CREATED,
        transitions=[
            Transition(o.pk, OrderState.CONFIRMED, "paid") for o in (waiting, cancelled, delivered)
        ],
    )

    assert changed == {waiting.pk}
    assert states(waiting, cancelled, delivered) == ["confirmed", "cancelled", "delivered"]
    for order in (cancelled, delivered):
        assert list(order.history.values_list("id", flat=True)) == rows_before[order.pk]


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [
        (OrderState.CREATED, OrderState.DELIVERED),
        (OrderState.CONFIRMED, OrderState.CREATED),
        (OrderState.CANCELLED, OrderState.CANCELLED),  # a state to itself is no change
        (OrderState.DELIVERED, OrderState.CANCELLED),
    ],
)
def test_orders_transition_many_refuses_a_transition_the_state_machine_does_not_allow(
    make_order, from_state, to_state
):
    other, order = make_order(state=from_state), make_order(state=from_state)
    # A legal transition first in the batch, where the source state has one.
    legal = [Transition(other.pk, to, "legal") for to in sorted(ALLOWED_TRANSITIONS[from_state])][
        :1
    ]
    rows_before = OrderStateChange.objects.count()

    with pytest.raises(ValueError, match="not in ALLOWED_TRANSITIONS"):
        transitions.orders_transition_many(
            from_state=from_state, transitions=[*legal, Transition(order.pk, to_state, "illegal")]
        )

    # Refused before anything is written, the legal transition of the batch too.
    assert states(other, order) == [from_state, from_state]
    assert OrderStateChange.objects.count() == rows_before


def test_orders_transition_many_without_transitions_touches_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert (
            transitions.orders_transition_many(from_state=OrderState.CREATED, transitions=[])
            == set()
        )
    assert len(queries) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL only")
def test_orders_transition_many_is_one_statement(make_order):
    orders = [make_order() for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        changed = transitions.orders_transition_many(
            from_state=OrderState.CREATED,
            transitions=[Transition(order.pk, OrderState.CONFIRMED, "paid") for order in orders],
        )

    assert changed == {order.pk for order in orders}
    assert len(queries) == 1


# --- order_transition: one order through the gate, and the state machine it enforces -----------

# Written out by hand, not derived from ALLOWED_TRANSITIONS, so that a wrong mapping fails here.
LEGAL_TRANSITIONS = {
    (OrderState.CREATED, OrderState.CONFIRMED),
    (OrderState.CREATED, OrderState.CANCELLED),
    (OrderState.CONFIRMED, OrderState.DELIVERED),
    (OrderState.CONFIRMED, OrderState.CANCELLED),
}
ALL_PAIRS = list(itertools.product(OrderState.values, repeat=2))


def test_allowed_transitions_match_the_specified_state_machine():
    assert len(ALL_PAIRS) == 16
    declared = {(src, dst) for src, targets in ALLOWED_TRANSITIONS.items() for dst in targets}
    assert declared == LEGAL_TRANSITIONS
    assert set(ALLOWED_TRANSITIONS) == set(OrderState.values)


def test_sources_of_lists_the_states_that_may_transition_to_a_state():
    assert set(sources_of(OrderState.CANCELLED)) == {OrderState.CREATED, OrderState.CONFIRMED}
    assert sources_of(OrderState.DELIVERED) == [OrderState.CONFIRMED]
    assert sources_of(OrderState.CREATED) == []


@pytest.mark.parametrize(("from_state", "to_state"), ALL_PAIRS)
def test_order_transition_allows_exactly_the_legal_moves(make_order, from_state, to_state):
    order = make_order(state=from_state)
    rows_before = order.history.count()
    changed_at_before = Order.objects.get(pk=order.pk).state_changed_at

    if (from_state, to_state) in LEGAL_TRANSITIONS:
        changed, _ = transitions.order_transition(
            order_number=order.number, to_state=to_state, reason="by test"
        )
        assert changed.state == to_state
        assert Order.objects.get(pk=order.pk).state == to_state
        assert order.history.count() == rows_before + 1
        last = order.history.order_by("-id").first()
        assert (last.from_state, last.to_state, last.reason) == (from_state, to_state, "by test")
        assert changed.state_changed_at >= changed_at_before
    else:
        with pytest.raises(IllegalTransition) as caught:
            transitions.order_transition(
                order_number=order.number, to_state=to_state, reason="by test"
            )
        assert caught.value.status_code == 409
        assert caught.value.code == "illegal_transition"
        assert (caught.value.from_state, caught.value.to_state) == (from_state, to_state)
        unchanged = Order.objects.get(pk=order.pk)
        assert unchanged.state == from_state
        assert unchanged.state_changed_at == changed_at_before
        assert order.history.count() == rows_before


def test_order_transition_writes_one_history_row_per_state_change(make_order):
    order = make_order()
    transitions.order_transition(order_number=order.number, to_state="confirmed", reason="paid")
    transitions.order_transition(order_number=order.number, to_state="delivered", reason="arrived")

    rows = list(order.history.values_list("from_state", "to_state", "reason"))
    assert rows == [
        (None, "created", "order created"),
        ("created", "confirmed", "paid"),
        ("confirmed", "delivered", "arrived"),
    ]


def test_order_transition_never_overwrites_a_final_state(make_order):
    order = make_order(state=OrderState.DELIVERED)

    with pytest.raises(IllegalTransition):
        services.order_cancel(order_number=order.number)

    assert Order.objects.get(pk=order.pk).state == OrderState.DELIVERED
    assert not order.history.filter(to_state=OrderState.CANCELLED).exists()


def test_order_transition_rejects_a_state_that_does_not_exist(make_order):
    order = make_order()

    with pytest.raises(IllegalTransition):
        transitions.order_transition(order_number=order.number, to_state="shipped", reason="no")

    assert Order.objects.get(pk=order.pk).state == OrderState.CREATED


def test_order_transition_of_an_unknown_order_raises_not_found():
    with pytest.raises(OrderNotFound) as caught:
        transitions.order_transition(order_number="zzzzzzzz", to_state="cancelled", reason="no")

    assert caught.value.status_code == 404
    assert not OrderStateChange.objects.exists()


def test_order_transition_rereads_the_state_when_the_first_compare_and_set_loses(
    make_order, monkeypatch
):
    """Simulate another process cancelling between our read and our UPDATE: the UPDATE matches
    nothing, the loop reads `cancelled`, and the transition is refused instead of overwriting."""
    order = make_order()
    real_compare_and_set = db.order_transition_from
    raced = []

    def cancel_then_compare_and_set(**kwargs):
        if not raced:
            raced.append(True)
            Order.objects.filter(pk=order.pk).update(state=OrderState.CANCELLED)
        return real_compare_and_set(**kwargs)

    monkeypatch.setattr(db, "order_transition_from", cancel_then_compare_and_set)

    with pytest.raises(IllegalTransition) as caught:
        transitions.order_transition(order_number=order.number, to_state="confirmed", reason="paid")

    assert raced == [True]
    assert caught.value.from_state == OrderState.CANCELLED
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    assert not order.history.filter(to_state=OrderState.CONFIRMED).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL only")
def test_order_transition_from_the_usual_state_is_one_statement(make_order):
    """The transition assumes the usual source state: no read before it, one round trip in all."""
    order = make_order()
    with CaptureQueriesContext(connection) as queries:
        transitions.order_transition(order_number=order.number, to_state="confirmed", reason="paid")
    assert len(queries) == 1

    # Cancelling a confirmed order: the assumed `created` misses, a read, then the transition.
    with CaptureQueriesContext(connection) as queries:
        transitions.order_transition(order_number=order.number, to_state="cancelled", reason="x")
    assert len(queries) == 3
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_order_transition_plan_does_not_depend_on_stale_state_statistics():
    """Statistics taken while no order was `created`, then a burst of created orders: the
    transition
    must still find its row by number and primary key, not walk an index of states."""
    insert = """
        INSERT INTO orders_order (number, name, address, price, state, state_changed_at,
                                  payment_requested_at, created_at, updated_at)
        SELECT lpad(to_hex(i), 8, '0'), 'n', 'a', 1, %s, now(), now(), now(), now()
        FROM generate_series(%s::int, %s::int) AS i
    """
    with connection.cursor() as cursor:
        cursor.execute(insert, ["delivered", 1, 2000])
        cursor.execute("ANALYZE orders_order")
        cursor.execute(insert, ["created", 2001, 12000])
        params = {
            "number": "00000fa1",
            "from_state": "created",
            "to_state": "confirmed",
            "reason": "paid",
            "now": datetime.now(UTC),
        }
        cursor.execute("EXPLAIN " + db._transition_one_sql(), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "order_awaiting_payment_idx" not in plan and "order_state_since_idx" not in plan, plan
    assert "orders_order_pkey" in plan, plan
