from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.transaction import TransactionManagementError

from payments import selectors, services
from payments.exceptions import PaymentConflict
from payments.models import Payment, PaymentStatus

pytestmark = pytest.mark.django_db


def create(number, amount="10.00", **extra):
    fields = {"name": "Ada Lovelace", "address": "12 Analytical St", **extra}
    return services.payment_create(order_number=number, amount=Decimal(amount), **fields)


def decide(method="card"):
    return services.payment_decide(order_number="abcd1234", amount=Decimal(1), method=method)


def test_payment_decide_card_confirms_at_probability_one(confirm_always):
    assert decide().status == PaymentStatus.CONFIRMED


def test_payment_decide_card_declines_at_probability_zero(decline_always):
    assert decide().status == PaymentStatus.DECLINED


def test_payment_create_stores_a_confirmed_payment(confirm_always, order_number):
    number = order_number()

    payment, created = create(number, "12.34")

    assert created is True
    stored = Payment.objects.get(order_number=number)
    assert stored.pk == payment.pk
    assert stored.status == PaymentStatus.CONFIRMED
    assert stored.amount == Decimal("12.34")
    assert (stored.name, stored.address) == ("Ada Lovelace", "12 Analytical St")
    assert stored.transaction_id == payment.transaction_id
    assert (stored.created_at, stored.updated_at) == (payment.created_at, payment.updated_at)
    assert stored.refunded_at is None


def test_payment_create_stores_a_declined_payment(decline_always, order_number):
    payment, created = create(order_number())

    assert created is True
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.DECLINED


def test_payment_create_gives_each_payment_its_own_transaction_id(make_payment):
    assert make_payment().transaction_id != make_payment().transaction_id


def test_payment_create_again_returns_the_stored_payment(settings, order_number):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    number = order_number()
    first, _ = create(number)
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0  # a second decision would now decline

    again, created = create(number)

    assert created is False
    assert again.pk == first.pk
    assert again.transaction_id == first.transaction_id
    assert again.status == PaymentStatus.CONFIRMED
    assert Payment.objects.filter(order_number=number).count() == 1


def test_payment_create_treats_an_equal_amount_as_the_same_request(order_number):
    number = order_number()
    first, _ = create(number, "10.00")

    again, created = create(number, "10")

    assert (again.pk, created) == (first.pk, False)


def test_payment_create_with_a_different_amount_is_a_conflict(order_number):
    number = order_number()
    create(number, "10.00")

    with pytest.raises(PaymentConflict) as raised:
        create(number, "10.01")

    assert raised.value.status_code == 409
    assert raised.value.code == "payment_conflict"
    assert list(raised.value.errors) == ["price"]
    assert Payment.objects.filter(order_number=number).count() == 1
    assert Payment.objects.get(order_number=number).amount == Decimal("10.00")


def test_payment_create_new_order_is_one_statement(order_number, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        create(order_number())

    assert "ON CONFLICT" in captured.captured_queries[0]["sql"]


def test_payment_create_again_is_the_insert_then_one_read(order_number, django_assert_num_queries):
    number = order_number()
    first, _ = create(number)

    with django_assert_num_queries(2):
        again, created = create(number)

    assert (again.pk, created) == (first.pk, False)


def test_payment_create_again_leaves_an_outer_transaction_usable(order_number):
    number = order_number()

    with transaction.atomic():
        first, _ = create(number)
        again, created = create(number)  # the unique index is hit: no error, nothing to undo
        assert Payment.objects.filter(order_number=number).count() == 1

    assert (again.pk, created) == (first.pk, False)


def test_payment_create_invalid_row_marks_an_outer_transaction_for_rollback(order_number):
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            create(order_number(), "-1.00")  # the database's CHECK, not the unique index

        # As after a failed save(): no query until the block is left, never a silent commit.
        with pytest.raises(TransactionManagementError):
            Payment.objects.count()

    assert not Payment.objects.exists()


def test_payment_create_reraises_a_conflict_no_row_explains(monkeypatch, order_number):
    number = order_number()
    create(number)
    monkeypatch.setattr(services, "payment_find", lambda *, order_number: None)

    with pytest.raises(IntegrityError):
        create(number)

    # Nothing failed in the database: the connection is still usable.
    assert Payment.objects.filter(order_number=number).count() == 1


def test_payment_find_returns_none_for_an_unknown_order(make_payment):
    make_payment()

    assert selectors.payment_find(order_number="zzzzzzzz") is None


def test_payment_find_returns_the_payment_of_an_order(make_payment):
    payment = make_payment()

    assert selectors.payment_find(order_number=payment.order_number) == payment


def test_payment_list_is_newest_first(make_payment):
    payments = [make_payment() for _ in range(3)]

    assert list(selectors.payment_list()) == payments[::-1]


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": Decimal("-0.01")},
        {"status": "pending"},
    ],
    ids=["negative-amount", "unknown-status"],
)
def test_payment_model_database_rejects_invalid_rows(fields, order_number):
    row = {
        "order_number": order_number(),
        "name": "Ada",
        "address": "x",
        "amount": Decimal("1.00"),
        "status": PaymentStatus.CONFIRMED,
        **fields,
    }

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(**row)

    assert not Payment.objects.exists()


def test_payment_model_database_keeps_one_payment_per_order(make_payment):
    payment = make_payment()

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            order_number=payment.order_number,
            name="Someone",
            address="Elsewhere",
            amount=payment.amount,
            status=PaymentStatus.DECLINED,
        )

    assert Payment.objects.count() == 1
