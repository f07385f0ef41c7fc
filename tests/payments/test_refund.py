"""Refunds: confirmed -> refunded once, by a compare-and-set; every repeat answers the same."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from helpers import PAYMENT_FIELDS, post_at_once

from payments import selectors, services
from payments.exceptions import PaymentNotFound, PaymentNotRefundable
from payments.models import Payment, PaymentStatus

pytestmark = pytest.mark.django_db

THREADS = 8
MALFORMED_NUMBERS = ["ABCD1234", "abc", "abcd12345", "abcd-123", "abcd%00123", "%C3%A9bcd123"]


@pytest.fixture(params=["/payment/{}/refund", "/payment/{}/refund/"])
def refund_path(request):
    """Both spellings, as for /payment; a test taking it runs once for each."""
    return request.param.format


@pytest.fixture
def confirmed(settings, make_payment):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    return make_payment()


@pytest.fixture
def declined(settings, make_payment):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0
    return make_payment()


def stored(payment: Payment) -> Payment:
    return Payment.objects.get(pk=payment.pk)


# --- the service --------------------------------------------------------------------------


def test_payment_refund_moves_a_confirmed_payment_to_refunded(confirmed):
    before = timezone.now()

    payment = services.payment_refund(order_number=confirmed.order_number)

    assert payment.pk == confirmed.pk
    assert payment.status == PaymentStatus.REFUNDED
    assert before <= payment.refunded_at <= timezone.now()
    assert payment.updated_at == payment.refunded_at
    row = stored(confirmed)
    assert (row.status, row.refunded_at) == (PaymentStatus.REFUNDED, payment.refunded_at)
    assert (row.amount, row.transaction_id, row.created_at) == (
        confirmed.amount,
        confirmed.transaction_id,
        confirmed.created_at,
    )


def test_payment_refund_is_one_conditional_update_between_reads(
    confirmed, django_assert_num_queries
):
    with django_assert_num_queries(3) as captured:
        services.payment_refund(order_number=confirmed.order_number)

    # The first read finds the payment's method (does it give money back?); no
    # read-modify-write: the UPDATE itself checks that the payment is still confirmed.
    method_read, update, read = (query["sql"] for query in captured.captured_queries)
    assert method_read.startswith("SELECT")
    assert update.startswith("UPDATE")
    assert "'confirmed'" in update.split("WHERE", 1)[1]
    assert read.startswith("SELECT")


def test_payment_refund_again_returns_the_refunded_payment_unchanged(confirmed):
    first = services.payment_refund(order_number=confirmed.order_number)

    again = services.payment_refund(order_number=confirmed.order_number)

    assert again.pk == first.pk
    assert again.status == PaymentStatus.REFUNDED
    assert (again.refunded_at, again.updated_at) == (first.refunded_at, first.updated_at)


def test_payment_refund_of_a_declined_payment_is_not_refundable(declined):
    with pytest.raises(PaymentNotRefundable) as raised:
        services.payment_refund(order_number=declined.order_number)

    assert raised.value.status_code == 409
    assert raised.value.code == "payment_not_refundable"
    row = stored(declined)
    assert (row.status, row.refunded_at, row.updated_at) == (
        PaymentStatus.DECLINED,
        None,
        declined.updated_at,
    )


def test_payment_refund_of_an_unknown_order_is_not_found(make_payment):
    make_payment()

    with pytest.raises(PaymentNotFound) as raised:
        services.payment_refund(order_number="zzzzzzzz")

    assert raised.value.status_code == 404
    assert raised.value.code == "payment_not_found"


@pytest.mark.parametrize("number", ["", "ORD00001", "abc", "abcd12345", "abcd\x00123", "abcd123\n"])
def test_payment_refund_of_a_malformed_order_number_is_not_found(make_payment, number):
    make_payment(number="ord00001")

    with pytest.raises(PaymentNotFound):
        services.payment_refund(order_number=number)

    assert not Payment.objects.filter(status=PaymentStatus.REFUNDED).exists()


def test_payment_refund_leaves_other_payments_alone(confirmed, make_payment):
    other = make_payment()

    services.payment_refund(order_number=confirmed.order_number)

    row = stored(other)
    assert (row.status, row.refunded_at, row.updated_at) == (
        PaymentStatus.CONFIRMED,
        None,
        other.updated_at,
    )


def test_payment_refund_refunds_a_payment_stored_after_its_update_looked(monkeypatch, order_number):
    """A POST /payment landing between the UPDATE (no row yet) and the read is refunded too."""
    number = order_number()

    def payment_find_after_an_insert(*, order_number):
        if not Payment.objects.filter(order_number=order_number).exists():
            Payment.objects.create(
                order_number=order_number,
                name="Ada Lovelace",
                address="12 Analytical St",
                amount=Decimal("10.00"),
                status=PaymentStatus.CONFIRMED,
            )
        return selectors.payment_find(order_number=order_number)

    monkeypatch.setattr(services, "payment_find", payment_find_after_an_insert)

    payment = services.payment_refund(order_number=number)

    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_at is not None
    assert stored(payment).status == PaymentStatus.REFUNDED
    assert Payment.objects.filter(order_number=number).count() == 1


@pytest.mark.parametrize(
    ("status", "refunded"),
    [
        (PaymentStatus.REFUNDED, False),
        (PaymentStatus.CONFIRMED, True),
        (PaymentStatus.DECLINED, True),
    ],
    ids=["refunded-without-time", "confirmed-with-time", "declined-with-time"],
)
def test_payment_model_database_rejects_a_refund_time_that_contradicts_the_status(
    order_number, status, refunded
):
    row = {
        "order_number": order_number(),
        "name": "Ada",
        "address": "x",
        "amount": Decimal("1.00"),
        "status": status,
        "refunded_at": timezone.now() if refunded else None,
    }

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(**row)

    assert not Payment.objects.exists()


# --- the API ------------------------------------------------------------------------------


def test_payment_refund_api_refunds_a_confirmed_payment(auth_client, confirmed, refund_path):
    response = auth_client.post(refund_path(confirmed.order_number))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAYMENT_FIELDS
    assert body["status"] == "refunded"
    assert body["orderNumber"] == confirmed.order_number
    assert body["transactionId"] == str(confirmed.transaction_id)
    assert (body["name"], body["address"], body["price"]) == (
        confirmed.name,
        confirmed.address,
        "10.00",
    )
    assert parse_datetime(body["createdAt"]) == confirmed.created_at
    refunded_at = parse_datetime(body["refundedAt"])
    assert refunded_at is not None
    assert parse_datetime(body["updatedAt"]) == refunded_at
    row = stored(confirmed)
    assert (row.status, row.refunded_at) == (PaymentStatus.REFUNDED, refunded_at)


def test_payment_refund_api_again_answers_the_same_body(auth_client, confirmed, refund_path):
    first = auth_client.post(refund_path(confirmed.order_number))

    again = auth_client.post(refund_path(confirmed.order_number))

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert stored(confirmed).refunded_at == parse_datetime(first.json()["refundedAt"])


def test_payment_refund_api_of_a_declined_payment_is_409(auth_client, declined, refund_path):
    response = auth_client.post(refund_path(declined.order_number))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "payment_not_refundable"
    assert body["message"]
    assert body["errors"] == {}
    row = stored(declined)
    assert (row.status, row.refunded_at) == (PaymentStatus.DECLINED, None)


def test_payment_refund_api_of_an_unknown_order_is_404(auth_client, make_payment, refund_path):
    make_payment()

    response = auth_client.post(refund_path("zzzzzzzz"))

    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "payment_not_found"
    assert body["message"]
    assert body["errors"] == {}


@pytest.mark.parametrize("number", MALFORMED_NUMBERS)
def test_payment_refund_api_of_a_malformed_order_number_is_404(auth_client, number):
    # The order_number converter: no route matches, so no view (and no query) runs.
    response = auth_client.post(f"/payment/{number}/refund")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_payment_refund_api_without_token_is_401(api_client, confirmed, refund_path):
    response = api_client.post(refund_path(confirmed.order_number))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert stored(confirmed).status == PaymentStatus.CONFIRMED


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong-token", "Bearer ", "Token {token}", "{token}"],
    ids=["wrong", "empty", "token-scheme", "no-scheme"],
)
def test_payment_refund_api_with_bad_credentials_is_401(api_client, confirmed, token, header):
    response = api_client.post(
        f"/payment/{confirmed.order_number}/refund",
        HTTP_AUTHORIZATION=header.format(token=token),
    )

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert stored(confirmed).status == PaymentStatus.CONFIRMED


def test_payment_refund_api_checks_the_token_before_the_order(api_client):
    # Without the token, nothing tells whether an order has a payment.
    assert api_client.post("/payment/zzzzzzzz/refund").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": {}, "format": "json"},
        {"data": {"price": "0.01", "status": "declined"}, "format": "json"},
        {"data": "not json", "content_type": "application/json"},
    ],
    ids=["no-body", "empty-object", "other-fields", "not-json"],
)
def test_payment_refund_api_ignores_the_body(auth_client, confirmed, body):
    response = auth_client.post(f"/payment/{confirmed.order_number}/refund", **body)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert response.json()["price"] == "10.00"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_payment_refund_api_other_methods_are_a_json_405(auth_client, confirmed, method):
    response = getattr(auth_client, method)(f"/payment/{confirmed.order_number}/refund/")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert stored(confirmed).status == PaymentStatus.CONFIRMED


def test_payment_list_shows_a_refunded_payment(auth_client, confirmed, declined):
    refunded = auth_client.post(f"/payment/{confirmed.order_number}/refund").json()

    results = auth_client.get("/payment/").json()["results"]

    by_number = {item["orderNumber"]: item for item in results}
    assert by_number[confirmed.order_number] == refunded
    assert by_number[confirmed.order_number]["status"] == "refunded"
    assert by_number[declined.order_number]["refundedAt"] is None


def same_order(payment: Payment, *, price: str) -> dict:
    """A POST /payment body for the order `payment` was made for, at `price`."""
    return {
        "orderNumber": payment.order_number,
        "name": payment.name,
        "address": payment.address,
        "price": price,
    }


def test_payment_post_after_a_refund_answers_the_refunded_payment(auth_client, confirmed):
    refunded = auth_client.post(f"/payment/{confirmed.order_number}/refund").json()
    replay = same_order(confirmed, price="10.00")

    response = auth_client.post("/payment", replay, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == refunded
    assert Payment.objects.filter(order_number=confirmed.order_number).count() == 1
    assert stored(confirmed).status == PaymentStatus.REFUNDED


def test_payment_post_after_a_refund_with_another_price_is_still_a_conflict(auth_client, confirmed):
    auth_client.post(f"/payment/{confirmed.order_number}/refund")
    replay = same_order(confirmed, price="99.00")

    response = auth_client.post("/payment", replay, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "payment_conflict"
    assert Payment.objects.count() == 1


@pytest.mark.usefixtures("fast_password_hashing")
def test_payment_admin_changelist_filters_refunded_payments(admin_client, confirmed, declined):
    services.payment_refund(order_number=confirmed.order_number)

    response = admin_client.get("/admin/payments/payment/", {"status__exact": "refunded"})

    assert response.status_code == 200
    listed = [payment.order_number for payment in response.context["cl"].result_list]
    assert listed == [confirmed.order_number]


# --- racing refunds -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_payment_refund_api_concurrent_refunds_all_answer_one_refund(confirmed, token):
    responses, errors = post_at_once(
        f"/payment/{confirmed.order_number}/refund", [None] * THREADS, token
    )

    assert errors == []
    assert [code for code, _ in responses] == [200] * THREADS, responses
    assert {body["status"] for _, body in responses} == {"refunded"}
    assert len({body["refundedAt"] for _, body in responses}) == 1
    assert len({body["updatedAt"] for _, body in responses}) == 1
    row = stored(confirmed)
    assert row.status == PaymentStatus.REFUNDED
    assert row.refunded_at == parse_datetime(responses[0][1]["refundedAt"])
    assert Payment.objects.count() == 1
