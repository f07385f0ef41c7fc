"""Several threads, each with its own database connection, against a database that commits for
real (transaction=True): what the compare-and-set and the locks promise under contention."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from helpers import (
    ORDER_NUMBER_PATTERN,
    assert_legal_history,
    batch_echo,
    batch_refuse_all,
    run_in_threads,
    sent_numbers,
)
from rest_framework.test import APIClient

from orders import charging, services, sweeps
from orders.exceptions import IllegalTransition
from orders.models import Order, OrderEventKind, OrderState, OrderStateChange

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture
def payments_refuses(http, batch_url):
    """Commits are real here, so creating an order wakes the charger at once (eagerly). These
    tests race other things: Payments refuses each order (not retried), and they stay `created`."""
    http.add_callback("POST", batch_url, callback=batch_refuse_all())


def test_order_create_api_from_many_threads_gives_unique_numbers(http, batch_url):
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))

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
    # Each order was created once, sent to Payments once (the wake-ups coalesce, so a batch may
    # carry several), and transitioned once.
    sent = sorted(number for call in http.calls for number in sent_numbers(call))
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
        # and a confirmation that arrives after the cancel is recorded as an event.
        assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
        assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
        assert_legal_history(order)
        path = list(order.history.values_list("from_state", "to_state"))
        late = list(order.events.values_list("kind", "transaction_id"))
        assert (path, late) in (
            (
                [(None, "created"), ("created", "cancelled")],
                [(OrderEventKind.PAYMENT_AFTER_CANCELLATION, "tx-race")],
            ),
            ([(None, "created"), ("created", "confirmed"), ("confirmed", "cancelled")], []),
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
    cancels = order.history.filter(to_state=OrderState.CANCELLED, from_state=OrderState.CREATED)
    assert cancels.count() == 1
    late = order.events.filter(kind=OrderEventKind.PAYMENT_AFTER_CANCELLATION)
    # The customer's cancel went through first exactly when the decline became a late result.
    assert late.count() == (0 if isinstance(cancel_outcome, Exception) else 1)
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


def test_orders_charge_waiting_from_several_chargers_sends_each_order_once(http, batch_url):
    """Chargers woken at once split the backlog: each claim takes orders nobody else holds."""
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))
    now = timezone.now()
    # Waiting orders written as a backlog, without the wake-up order_create would publish.
    Order.objects.bulk_create(
        Order(number=f"back{index:04}", name="Ada", address="1 Loop Road", price="2.50")
        for index in range(20)
    )
    Order.objects.update(payment_requested_at=now - timedelta(seconds=1))

    outcomes = run_in_threads(
        *(lambda: charging.orders_charge_waiting(batch_size=3) for _ in range(THREADS // 2))
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sum(outcomes) == 20
    sent = [number for call in http.calls for number in sent_numbers(call)]
    assert sorted(sent) == sorted(Order.objects.values_list("number", flat=True))  # once each
    assert all(len(sent_numbers(call)) <= 3 for call in http.calls)
    assert set(Order.objects.values_list("state", flat=True)) == {OrderState.CONFIRMED}
    assert OrderStateChange.objects.filter(to_state=OrderState.CONFIRMED).count() == 20
