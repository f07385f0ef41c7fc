"""transitions.orders_move_many: the set-based gate a batch of payment results and the delivery
sweep go through. One compare-and-set for the batch, one history row per move."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import transitions
from orders.models import ALLOWED_TRANSITIONS, Order, OrderState, OrderStateChange
from orders.transitions import Move

pytestmark = pytest.mark.django_db


def states(*orders) -> list[str]:
    found = Order.objects.in_bulk([order.pk for order in orders])
    return [found[order.pk].state for order in orders]


def test_orders_move_many_moves_each_order_to_its_own_state(make_order):
    paid, declined, other = make_order(), make_order(), make_order()

    moved = transitions.orders_move_many(
        from_state=OrderState.CREATED,
        moves=[
            Move(paid.pk, OrderState.CONFIRMED, "payment confirmed (tx-1)"),
            Move(declined.pk, OrderState.CANCELLED, "payment declined (tx-2)"),
            Move(other.pk, OrderState.CONFIRMED, "payment confirmed (tx-3)"),
        ],
    )

    assert moved == {paid.pk, declined.pk, other.pk}
    assert states(paid, declined, other) == ["confirmed", "cancelled", "confirmed"]
    for order, to_state, reason in [
        (paid, "confirmed", "payment confirmed (tx-1)"),
        (declined, "cancelled", "payment declined (tx-2)"),
        (other, "confirmed", "payment confirmed (tx-3)"),
    ]:
        rows = list(order.history.values_list("from_state", "to_state", "reason"))
        assert rows == [(None, "created", "order created"), ("created", to_state, reason)]


def test_orders_move_many_writes_one_history_row_per_move_at_the_time_of_the_move(make_order):
    orders = [make_order(state=OrderState.CONFIRMED) for _ in range(4)]
    rows_before = OrderStateChange.objects.count()

    transitions.orders_move_many(
        from_state=OrderState.CONFIRMED,
        moves=[Move(order.pk, OrderState.DELIVERED, "delivery time reached") for order in orders],
    )

    assert OrderStateChange.objects.count() == rows_before + len(orders)
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        [row] = order.history.filter(to_state=OrderState.DELIVERED)
        assert (row.from_state, row.reason) == ("confirmed", "delivery time reached")
        assert row.created_at == order.state_changed_at == order.updated_at


def test_orders_move_many_leaves_orders_no_longer_in_the_source_state(make_order):
    waiting = make_order()
    cancelled = make_order(state=OrderState.CANCELLED)
    delivered = make_order(state=OrderState.DELIVERED)
    rows_before = {
        o.pk: list(o.history.values_list("id", flat=True)) for o in (cancelled, delivered)
    }

    moved = transitions.orders_move_many(
        from_state=OrderState.CREATED,
        moves=[Move(o.pk, OrderState.CONFIRMED, "paid") for o in (waiting, cancelled, delivered)],
    )

    assert moved == {waiting.pk}
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
def test_orders_move_many_refuses_a_move_the_state_machine_does_not_allow(
    make_order, from_state, to_state
):
    other, order = make_order(state=from_state), make_order(state=from_state)
    # A legal move first in the batch, where the source state has one.
    legal = [Move(other.pk, to, "legal") for to in sorted(ALLOWED_TRANSITIONS[from_state])][:1]
    rows_before = OrderStateChange.objects.count()

    with pytest.raises(ValueError, match="not in ALLOWED_TRANSITIONS"):
        transitions.orders_move_many(
            from_state=from_state, moves=[*legal, Move(order.pk, to_state, "illegal")]
        )

    # Refused before anything is written, the legal move of the batch too.
    assert states(other, order) == [from_state, from_state]
    assert OrderStateChange.objects.count() == rows_before


def test_orders_move_many_without_moves_touches_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert transitions.orders_move_many(from_state=OrderState.CREATED, moves=[]) == set()
    assert len(queries) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL only")
def test_orders_move_many_is_one_statement(make_order):
    orders = [make_order() for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        moved = transitions.orders_move_many(
            from_state=OrderState.CREATED,
            moves=[Move(order.pk, OrderState.CONFIRMED, "paid") for order in orders],
        )

    assert moved == {order.pk for order in orders}
    assert len(queries) == 1
