import re
from decimal import Decimal

import pytest
from django.db import IntegrityError
from helpers import ORDER_NUMBER_PATTERN, assert_legal_history, batch_echo, sent_numbers

from orders import services
from orders.clients import ChargeOutcome, ChargeResult
from orders.exceptions import IllegalTransition
from orders.models import Order, OrderEventKind, OrderState, OrderStateChange

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


def test_order_create_wakes_the_charger_only_after_commit(
    django_capture_on_commit_callbacks, http, batch_url
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = services.order_create(name="Ada", address="1 Loop Road", price=Decimal("1"))
    assert len(callbacks) == 1
    assert len(http.calls) == 0  # nothing is sent while the transaction is open
    # The order row is the outbox: waiting for a charger from the moment it was created.
    stored = Order.objects.get(pk=order.pk)
    assert stored.payment_requested_at == stored.created_at

    http.add_callback("POST", batch_url, callback=batch_echo())
    callbacks[0]()

    assert [sent_numbers(call) for call in http.calls] == [[order.number]]
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
    assert len(callbacks) == 1  # the failed attempt woke no charger


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
def test_order_apply_payment_result_after_cancel_keeps_the_cancel_and_records_an_event(
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
    assert rows == [
        (None, "created", "order created"),
        ("created", "cancelled", "cancelled by customer"),
    ]
    assert_legal_history(order)
    event = order.events.get()
    assert event.kind == OrderEventKind.PAYMENT_AFTER_CANCELLATION
    assert event.detail == f"payment {payment_status} after cancellation"
    assert (event.transaction_id, event.actor) == ("tx-late", "payments")


@pytest.mark.parametrize("payment_status", ["confirmed", "declined"])
def test_order_apply_payment_result_records_the_late_result_once(make_order, payment_status):
    order = make_order(state=OrderState.CANCELLED)

    for _ in range(2):
        services.order_apply_payment_result(
            order_number=order.number, payment_status=payment_status, transaction_id="tx-late"
        )

    late = order.events.filter(kind=OrderEventKind.PAYMENT_AFTER_CANCELLATION)
    assert list(late.values_list("transaction_id", flat=True)) == ["tx-late"]
    assert order.history.count() == 2
    assert_legal_history(order)


def test_order_apply_payment_result_records_each_late_result_of_its_own(make_order):
    order = make_order(state=OrderState.CANCELLED)

    for transaction_id in ("tx-1", "tx-2"):
        services.order_apply_payment_result(
            order_number=order.number, payment_status="declined", transaction_id=transaction_id
        )

    assert list(order.events.values_list("transaction_id", flat=True)) == ["tx-1", "tx-2"]


@pytest.mark.parametrize("payment_status", ["confirmed", "declined"])
def test_order_apply_payment_result_twice_moves_the_order_once(make_order, payment_status):
    order = make_order()

    for _ in range(2):
        services.order_apply_payment_result(
            order_number=order.number, payment_status=payment_status, transaction_id="tx-1"
        )

    assert order.history.count() == 2
    assert_legal_history(order)


def test_order_apply_payment_result_repeated_after_a_later_cancel_records_nothing(make_order):
    order = make_order()
    services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )
    services.order_cancel(order_number=order.number)

    services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )

    # The confirmation came before the cancel: repeating it is not a late result.
    assert not order.events.exists()
    assert order.history.count() == 3
    assert_legal_history(order)


def test_order_apply_payment_result_leaves_a_delivered_order_alone(make_order):
    order = make_order(state=OrderState.DELIVERED)

    applied = services.order_apply_payment_result(
        order_number=order.number, payment_status="confirmed", transaction_id="tx-1"
    )

    assert applied.state == OrderState.DELIVERED
    assert order.history.count() == 3
    assert not order.events.exists()


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


def test_orders_apply_payment_results_applies_a_mixed_batch(
    make_order, django_capture_on_commit_callbacks
):
    waiting, declined, cancelled = (
        make_order(),
        make_order(),
        make_order(state=OrderState.CANCELLED),
    )
    results = [
        ChargeResult(waiting.number, ChargeOutcome.CONFIRMED, "tx-a"),
        ChargeResult(declined.number, ChargeOutcome.DECLINED, "tx-b"),
        ChargeResult(cancelled.number, ChargeOutcome.CONFIRMED, "tx-c"),
        ChargeResult(
            "zzzzzzzz", ChargeOutcome.CONFIRMED, "tx-d"
        ),  # no such order: nothing to apply
    ]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.orders_apply_payment_results(results=results)

    states = Order.objects.in_bulk([o.pk for o in (waiting, declined, cancelled)])
    assert [states[o.pk].state for o in (waiting, declined, cancelled)] == [
        OrderState.CONFIRMED,
        OrderState.CANCELLED,
        OrderState.CANCELLED,
    ]
    assert waiting.history.last().reason == "payment confirmed (tx-a)"
    assert declined.history.last().reason == "payment declined (tx-b)"
    assert not waiting.events.exists() and not declined.events.exists()
    [late] = cancelled.events.all()
    assert (late.kind, late.transaction_id) == (OrderEventKind.PAYMENT_AFTER_CANCELLATION, "tx-c")
    assert len(callbacks) == 1  # the refund of the late confirmation's charge
    for order in (waiting, declined, cancelled):
        assert_legal_history(order)
