"""orders/events.py: one function per kind builds the human line and the structured data, and
record()/record_once() write them."""

import inspect
from decimal import Decimal

import pytest

from orders import events
from orders.models import OrderEvent, OrderEventKind

pytestmark = pytest.mark.django_db

# One call of each builder, and what it must build.
BUILT = [
    (
        events.payment_after_cancellation(outcome="confirmed", transaction_id="tx-1"),
        OrderEventKind.PAYMENT_AFTER_CANCELLATION,
        "payment confirmed after cancellation",
        {"outcome": "confirmed"},
        "payments",
    ),
    (
        events.refunded(transaction_id="tx-2"),
        OrderEventKind.REFUNDED,
        "payment refunded",
        {},
        "payments",
    ),
    (
        events.refund_not_needed(payments_code="payment_not_found"),
        OrderEventKind.REFUND_NOT_NEEDED,
        "no refund needed: no payment was taken (payment_not_found)",
        {"paymentsCode": "payment_not_found"},
        "payments",
    ),
    (
        events.cancelled_by_operator(operator="ops", from_state="confirmed"),
        OrderEventKind.CANCELLED_BY_OPERATOR,
        "cancelled in the admin (was confirmed)",
        {"fromState": "confirmed"},
        "ops",
    ),
    (
        events.refunded_not_cancelled(order_state="delivered", transaction_id="tx-3"),
        OrderEventKind.REFUNDED_NOT_CANCELLED,
        "the charge was refunded at Payments; the order is delivered",
        {"paymentStatus": "refunded", "orderState": "delivered"},
        "reconciliation",
    ),
    (
        events.status_differs(
            payment_status="declined", order_state="confirmed", transaction_id="tx-4"
        ),
        OrderEventKind.STATUS_DIFFERS,
        "Payments declined the payment; the order is confirmed",
        {"paymentStatus": "declined", "orderState": "confirmed"},
        "reconciliation",
    ),
    (
        events.status_differs(
            payment_status="confirmed", order_state="cancelled", transaction_id="tx-5"
        ),
        OrderEventKind.STATUS_DIFFERS,
        "Payments holds a confirmed charge; the order was cancelled with no refund asked for",
        {"paymentStatus": "confirmed", "orderState": "cancelled"},
        "reconciliation",
    ),
    (
        events.amount_differs(
            payments_amount=Decimal("10.00"), order_price=Decimal("12.50"), transaction_id="tx-6"
        ),
        OrderEventKind.AMOUNT_DIFFERS,
        "Payments has 10.00, the order 12.50",
        {"paymentsAmount": "10.00", "orderPrice": "12.50"},
        "reconciliation",
    ),
]


@pytest.mark.parametrize(("event", "kind", "detail", "data", "actor"), BUILT)
def test_each_builder_makes_its_kind_with_its_line_and_data(event, kind, detail, data, actor):
    assert (event.kind, event.detail, event.data, event.actor) == (kind, detail, data, actor)
    assert len(event.detail) <= OrderEvent._meta.get_field("detail").max_length


def test_every_kind_but_the_old_notes_has_its_builder():
    assert set(events.BUILDERS) == set(OrderEventKind) - {OrderEventKind.NOTE}
    assert {event.kind for event, *_ in BUILT} == set(events.BUILDERS)
    for kind, builder in events.BUILDERS.items():
        assert builder.__name__ == kind.value, "a builder is named after its kind"
        assert inspect.getmodule(builder) is events


def test_record_writes_the_line_the_data_and_the_columns(make_order):
    order = make_order()
    event = events.amount_differs(
        payments_amount=Decimal("1.00"), order_price=order.price, transaction_id="tx-a"
    )

    events.record(order=order, event=event)

    [stored] = OrderEvent.objects.filter(order=order).values(
        "kind", "detail", "data", "transaction_id", "actor"
    )
    assert stored == {
        "kind": "amount_differs",
        "detail": "Payments has 1.00, the order 12.50",
        "data": {"paymentsAmount": "1.00", "orderPrice": "12.50"},
        "transaction_id": "tx-a",
        "actor": "reconciliation",
    }


def test_record_once_writes_a_kind_and_transaction_id_once(make_order):
    order = make_order()
    late = events.payment_after_cancellation(outcome="confirmed", transaction_id="tx-b")

    assert events.record_once(order=order, event=late)
    assert not events.record_once(order=order, event=late)
    other = events.payment_after_cancellation(outcome="declined", transaction_id="tx-c")
    assert events.record_once(order=order, event=other)
    assert order.events.count() == 2
