import re
from decimal import Decimal

import pytest
from django.db import IntegrityError
from helpers import ORDER_NUMBER_PATTERN, assert_legal_history, payment_body

from orders import services
from orders.exceptions import IllegalTransition
from orders.models import Order, OrderState, OrderStateChange

pytestmark = pytest.mark.django_db


def test_order_create_saves_the_order_in_created_with_one_history_row():
    order = services.order_create(name="Ada", address="1 Loop Road", price=Decimal("12.50"))

    stored = Order.objects.get(number=order.number)
    assert re.fullmatch(ORDER_NUMBER_PATTERN, stored.number)
    assert (stored.name, stored.address, stored.price) == ("Ada", "1 Loop Road", Decimal("12.50"))
    assert stored.state == OrderState.CREATED
    assert stored.state_changed_at == stored.created_at
    history = list(stored.history.values_list("from_state", "to_state", "reason"))
    assert history == [(None, "created", "order created")]


def test_order_create_queues_the_payment_only_after_commit(
    django_capture_on_commit_callbacks, http, payment_url
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = services.order_create(name="Ada", address="1 Loop Road", price=Decimal("1"))
    assert len(callbacks) == 1
    assert len(http.calls) == 0  # nothing is sent while the transaction is open

    http.add("POST", payment_url, json=payment_body(order.number), status=201)
    callbacks[0]()

    assert len(http.calls) == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED


def test_order_create_draws_another_number_when_the_first_is_taken(
    make_order, monkeypatch, django_capture_on_commit_callbacks
):
    existing = make_order()
    real_generate = services.order_number_generate
    drawn = []

    def collide_once() -> str:
        number = existing.number if not drawn else real_generate()
        drawn.append(number)
        return number

    monkeypatch.setattr(services, "order_number_generate", collide_once)

    with django_capture_on_commit_callbacks() as callbacks:
        order = services.order_create(name="Bob", address="2 Side St", price=Decimal("3.00"))

    assert len(drawn) == 2
    assert drawn[0] == existing.number
    assert order.number == drawn[1] != existing.number
    assert re.fullmatch(ORDER_NUMBER_PATTERN, order.number)
    assert Order.objects.count() == 2
    assert Order.objects.get(number=existing.number).name == "Ada"  # the first order is intact
    assert existing.history.count() == 1
    assert order.history.count() == 1
    assert len(callbacks) == 1  # the failed attempt queued no payment


def test_order_create_gives_up_after_repeated_collisions(make_order, monkeypatch):
    existing = make_order()
    monkeypatch.setattr(services, "order_number_generate", lambda: existing.number)

    with pytest.raises(RuntimeError, match="no free order number"):
        services.order_create(name="Bob", address="2 Side St", price=Decimal("3.00"))

    assert Order.objects.count() == 1
    assert OrderStateChange.objects.count() == 1


def test_order_create_does_not_hide_other_integrity_errors():
    # The database's CHECK constraint holds even when validation is bypassed.
    with pytest.raises(IntegrityError):
        services.order_create(name="Bob", address="2 Side St", price=Decimal("-1"))


def test_order_number_generate_draws_eight_lowercase_letters_or_digits():
    numbers = {services.order_number_generate() for _ in range(200)}
    assert all(re.fullmatch(ORDER_NUMBER_PATTERN, number) for number in numbers)
    assert len(numbers) == 200


def test_order_cancel_moves_created_and_confirmed_orders_to_cancelled(make_order):
    for state in (OrderState.CREATED, OrderState.CONFIRMED):
        order = make_order(state=state)
        cancelled = services.order_cancel(order_number=order.number)
        assert cancelled.state == OrderState.CANCELLED
        last = order.history.order_by("-id").first()
        assert (last.from_state, last.to_state, last.reason) == (
            state,
            "cancelled",
            "cancelled by customer",
        )


@pytest.mark.parametrize(
    ("payment_status", "expected_state"),
    [("confirmed", OrderState.CONFIRMED), ("declined", OrderState.CANCELLED)],
)
def test_order_apply_payment_result_moves_a_created_order(
    make_order, payment_status, expected_state
):
    order = make_order()

    applied = services.order_apply_payment_result(
        order_number=order.number, payment_status=payment_status, transaction_id="tx-1"
    )

    assert applied.state == expected_state
    last = order.history.order_by("-id").first()
    assert (last.from_state, last.to_state) == ("created", expected_state)
    assert last.reason == f"payment {payment_status} (tx-1)"


@pytest.mark.parametrize("payment_status", ["confirmed", "declined"])
def test_order_apply_payment_result_after_cancel_keeps_the_cancel_and_writes_a_note(
    make_order, payment_status
):
    order = make_order()
    services.order_cancel(order_number=order.number)

    applied = services.order_apply_payment_result(
        order_number=order.number, payment_status=payment_status, transaction_id="tx-late"
    )

    assert applied.state == OrderState.CANCELLED
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    rows = list(order.history.values_list("from_state", "to_state", "reason"))
    assert rows[-2:] == [
        ("created", "cancelled", "cancelled by customer"),
        ("cancelled", "cancelled", f"payment {payment_status} after cancellation (tx-late)"),
    ]
    assert_legal_history(order)


@pytest.mark.parametrize("payment_status", ["confirmed", "declined"])
def test_order_apply_payment_result_writes_the_late_note_once(make_order, payment_status):
    order = make_order(state=OrderState.CANCELLED)

    for _ in range(2):
        services.order_apply_payment_result(
            order_number=order.number, payment_status=payment_status, transaction_id="tx-late"
        )

    assert order.history.filter(reason__contains="after cancellation").count() == 1


@pytest.mark.parametrize("payment_status", ["confirmed", "declined"])
def test_order_apply_payment_result_twice_moves_the_order_once(make_order, payment_status):
    order = make_order()

    for _ in range(2):
        services.order_apply_payment_result(
            order_number=order.number, payment_status=payment_status, transaction_id="tx-1"
        )

    assert order.history.count() == 2
    assert_legal_history(order)


def test_order_apply_payment_result_repeated_after_a_later_cancel_writes_no_note(make_order):
    order = make_order()
    services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )
    services.order_cancel(order_number=order.number)

    services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )

    # The confirmation came before the cancel: repeating it is not a late result.
    assert not order.history.filter(reason__contains="after cancellation").exists()
    assert order.history.count() == 3


def test_order_apply_payment_result_leaves_a_delivered_order_alone(make_order):
    order = make_order(state=OrderState.DELIVERED)

    applied = services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )

    assert applied.state == OrderState.DELIVERED
    assert order.history.count() == 3


def test_order_cancel_after_payment_confirmed_cancels_the_confirmed_order(make_order):
    order = make_order()
    services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )

    services.order_cancel(order_number=order.number)

    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    assert_legal_history(order)
    with pytest.raises(IllegalTransition):
        services.order_cancel(order_number=order.number)
