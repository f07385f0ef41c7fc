"""Several threads, each with its own database connection, against a database that commits for
real (transaction=True): what the compare-and-set and the locks promise under contention."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from helpers import (
    ORDER_NUMBER_PATTERN,
    assert_legal_history,
    payment_echo,
    run_in_threads,
)
from rest_framework.test import APIClient

from orders import services, sweeps
from orders.exceptions import IllegalTransition
from orders.models import Order, OrderState, OrderStateChange

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture
def payments_refuses(http, payment_url):
    """Commits are real here, so creating an order queues its payment at once (eagerly). These
    tests race other things: Payments refuses (not retried), and the orders stay `created`."""
    http.add("POST", payment_url, status=409, json={"code": "conflict"})


def test_order_create_api_from_many_threads_gives_unique_numbers(http, payment_url):
    http.add_callback("POST", payment_url, callback=payment_echo("confirmed"))

    def create(index):
        def post():
            body = {"name": f"Buyer {index}", "address": "1 Loop Road", "price": f"{index}.25"}
            return APIClient().post("/order", body, format="json")

        return post

    answers = run_in_threads(*(create(index) for index in range(THREADS)))

    assert [getattr(r, "status_code", r) for r in answers] == [201] * THREADS
    numbers = [r.json()["orderNumber"] for r in answers]
    assert len(set(numbers)) == THREADS
    assert all(re.fullmatch(ORDER_NUMBER_PATTERN, number) for number in numbers)
    assert Order.objects.count() == THREADS
    # Each order was created once, asked Payments once, and moved once.
    sent = sorted(json.loads(call.request.body)["orderNumber"] for call in http.calls)
    assert sent == sorted(numbers)
    for order in Order.objects.all():
        creations = order.history.filter(from_state=None, to_state=OrderState.CREATED)
        assert creations.count() == 1
        assert order.history.count() == 2
        assert order.state == OrderState.CONFIRMED
        assert_legal_history(order)


@pytest.mark.usefixtures("payments_refuses")
def test_order_cancel_racing_a_confirmed_payment_always_ends_cancelled(make_order):
    orders = [make_order() for _ in range(5)]

    for order in orders:
        outcomes = run_in_threads(
            lambda number=order.number: services.order_cancel(order_number=number),
            lambda number=order.number: services.order_apply_payment_result(
                order_number=number, payment_status="confirmed", transaction_id="tx-race"
            ),
        )

        # Whichever wins, both calls succeed: cancel from created or from confirmed is legal,
        # and a confirmation that arrives after the cancel is written down as a note.
        assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
        assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
        assert_legal_history(order)
        path = list(order.history.values_list("from_state", "to_state"))
        assert path in (
            [(None, "created"), ("created", "cancelled"), ("cancelled", "cancelled")],
            [(None, "created"), ("created", "confirmed"), ("confirmed", "cancelled")],
        )


@pytest.mark.usefixtures("payments_refuses")
def test_order_cancel_racing_a_declined_payment_cancels_exactly_once(make_order):
    order = make_order()

    outcomes = run_in_threads(
        lambda: services.order_cancel(order_number=order.number),
        lambda: services.order_apply_payment_result(
            order_number=order.number, payment_status="declined", transaction_id="tx-race"
        ),
    )

    cancel_outcome, payment_outcome = outcomes
    assert not isinstance(payment_outcome, Exception), payment_outcome
    # The cancel loses with a 409 only if the decline got there first.
    assert not isinstance(cancel_outcome, Exception) or isinstance(
        cancel_outcome, IllegalTransition
    )
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    moves = order.history.filter(to_state=OrderState.CANCELLED, from_state=OrderState.CREATED)
    assert moves.count() == 1
    notes = order.history.filter(from_state=OrderState.CANCELLED, to_state=OrderState.CANCELLED)
    # The customer's cancel went through first exactly when the decline became a late note.
    assert notes.count() == (0 if isinstance(cancel_outcome, Exception) else 1)
    assert_legal_history(order)


@pytest.mark.usefixtures("payments_refuses")
def test_order_apply_payment_result_delivered_twice_at_once_moves_once(make_order):
    order = make_order()

    def apply():
        return services.order_apply_payment_result(
            order_number=order.number, payment_status="confirmed", transaction_id="tx-dup"
        )

    outcomes = run_in_threads(apply, apply, apply)

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED
    assert order.history.filter(to_state=OrderState.CONFIRMED).count() == 1
    assert order.history.count() == 2


@pytest.mark.usefixtures("payments_refuses")
def test_orders_deliver_due_from_several_workers_delivers_each_order_once(make_order):
    due = [make_order(state=OrderState.CONFIRMED) for _ in range(12)]
    past = timezone.now() - timedelta(seconds=settings.ORDERS_DELIVERY_DELAY_SECONDS + 5)
    Order.objects.update(state_changed_at=past)

    outcomes = run_in_threads(*(lambda: sweeps.orders_deliver_due(batch_size=5) for _ in range(3)))

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sum(outcomes) == len(due)
    assert set(Order.objects.values_list("state", flat=True)) == {OrderState.DELIVERED}
    delivered_rows = OrderStateChange.objects.filter(to_state=OrderState.DELIVERED)
    assert delivered_rows.count() == len(due)
    assert delivered_rows.values("order_id").distinct().count() == len(due)
