"""transitions.orders_transition_many: the set-based gate a batch of payment results and the
delivery sweep go through. One compare-and-set for the batch, one history row per transition."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import transitions
from orders.models import ALLOWED_TRANSITIONS, Order, OrderState, OrderStateChange
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
