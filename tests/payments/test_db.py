"""payments/db.py: each hand-written statement run on the database of this run (SQLite by
default, PostgreSQL with PAYMENTS_DATABASE_URL)."""

from decimal import Decimal
from operator import attrgetter

import pytest

from payments import db
from payments.models import Payment, PaymentStatus, ProviderAttempt

pytestmark = pytest.mark.django_db


def new_payment(number: str, amount: str = "10.00", status=PaymentStatus.CONFIRMED) -> Payment:
    return Payment(
        order_number=number, name="Ada", address="1 Row", amount=Decimal(amount), status=status
    )


def test_payments_insert_unless_paid_stores_new_payments_with_their_ids(order_number):
    payments = [new_payment(order_number()), new_payment(order_number(), "0.50")]

    stored = db.payments_insert_unless_paid(payments)

    assert stored == {payment.order_number for payment in payments}
    identity = attrgetter("order_number", "amount", "transaction_id")
    for payment in payments:
        assert identity(Payment.objects.get(pk=payment.pk)) == identity(payment)


def test_payments_insert_unless_paid_leaves_a_paid_order_as_it_is(order_number):
    number = order_number()
    db.payments_insert_unless_paid([new_payment(number, "10.00")])
    again, fresh = new_payment(number, "99.00", PaymentStatus.DECLINED), new_payment(order_number())

    stored = db.payments_insert_unless_paid([again, fresh])

    assert stored == {fresh.order_number}
    assert again.pk is None and again._state.adding
    assert Payment.objects.get(order_number=number).amount == Decimal("10.00")


def test_payments_insert_unless_paid_splits_a_batch_past_the_parameter_limit(
    order_number, monkeypatch
):
    # Three rows per statement: seven payments take three statements, all stored.
    fields = len([field for field in Payment._meta.concrete_fields if not field.primary_key])
    monkeypatch.setattr(db, "MAX_PARAMS", 3 * fields)
    payments = [new_payment(order_number()) for _ in range(7)]

    assert len(db.payments_insert_unless_paid(payments)) == 7
    assert Payment.objects.count() == 7


def test_payments_insert_unless_paid_of_nothing_runs_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert db.payments_insert_unless_paid([]) == set()


def test_provider_attempt_count_counts_each_order_and_method_apart(order_number):
    first, second = order_number(), order_number()

    counts = [
        db.provider_attempt_count(method="flaky", order_number=first),
        db.provider_attempt_count(method="flaky", order_number=first),
        db.provider_attempt_count(method="slow", order_number=first),
        db.provider_attempt_count(method="flaky", order_number=second),
        db.provider_attempt_count(method="flaky", order_number=first),
    ]

    assert counts == [1, 2, 1, 1, 3]
    assert ProviderAttempt.objects.get(method="flaky", order_number=first).attempts == 3
