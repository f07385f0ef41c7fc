import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from helpers import PAYMENT_FIELDS
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from payments import selectors, services
from payments.apis import PaymentOutputSerializer, payment_output
from payments.models import Payment

pytestmark = pytest.mark.django_db


def test_payment_post_confirms_at_probability_one(auth_client, payload, payment_path, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0

    response = auth_client.post(payment_path, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == PAYMENT_FIELDS
    assert body["status"] == "confirmed"
    assert body["orderNumber"] == payload["orderNumber"]
    assert (body["name"], body["address"]) == (payload["name"], payload["address"])
    assert body["price"] == "10.50"
    assert parse_datetime(body["createdAt"]) is not None
    assert parse_datetime(body["updatedAt"]) is not None
    assert body["refundedAt"] is None
    stored = Payment.objects.get(order_number=payload["orderNumber"])
    assert uuid.UUID(body["transactionId"]) == stored.transaction_id
    assert stored.status == "confirmed"
    assert stored.amount == Decimal("10.50")


def test_payment_post_declines_at_probability_zero(auth_client, payload, payment_path, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0

    response = auth_client.post(payment_path, payload, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "declined"
    assert Payment.objects.get(order_number=payload["orderNumber"]).status == "declined"


@pytest.mark.parametrize(
    ("price", "shown"),
    [("10", "10.00"), ("0.5", "0.50"), (7, "7.00"), (12.5, "12.50"), ("0", "0.00")],
)
def test_payment_post_renders_price_as_a_string_with_two_places(auth_client, payload, price, shown):
    response = auth_client.post("/payment", {**payload, "price": price}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["price"] == shown


def test_payment_post_again_returns_the_stored_result(auth_client, payload, payment_path, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    first = auth_client.post(payment_path, payload, format="json")
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0  # a fresh decision would now decline

    again = auth_client.post(payment_path, payload, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["status"] == "confirmed"
    assert Payment.objects.filter(order_number=payload["orderNumber"]).count() == 1


def test_payment_post_same_amount_written_differently_is_the_same_request(auth_client, payload):
    first = auth_client.post("/payment", {**payload, "price": "10.5"}, format="json")

    again = auth_client.post("/payment", {**payload, "price": 10.50}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["transactionId"] == first.json()["transactionId"]


def test_payment_post_different_price_is_a_conflict(auth_client, payload, payment_path):
    first = auth_client.post(payment_path, payload, format="json")

    response = auth_client.post(payment_path, {**payload, "price": "10.51"}, format="json")

    assert first.status_code == 201
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "payment_conflict"
    assert body["message"]
    assert isinstance(body["errors"]["price"], list)
    assert body["errors"]["price"]
    stored = Payment.objects.get(order_number=payload["orderNumber"])
    assert stored.amount == Decimal("10.50")
    assert str(stored.transaction_id) == first.json()["transactionId"]
    assert Payment.objects.count() == 1


def test_payment_list_shows_each_payment_to_the_service(auth_client, payment_path, make_payment):
    payment = make_payment()

    response = auth_client.get(payment_path)

    assert response.status_code == 200
    body = response.json()
    assert [item["orderNumber"] for item in body["results"]] == [payment.order_number]
    assert set(body["results"][0]) == PAYMENT_FIELDS
    assert body["results"][0]["transactionId"] == str(payment.transaction_id)


def test_payment_list_is_empty_without_payments(auth_client):
    response = auth_client.get("/payment/")

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert response.json()["next"] is None


def test_payment_list_pages_newest_first_without_duplicates(auth_client, make_payment):
    numbers = [make_payment().order_number for _ in range(5)]
    seen, pages = [], 0
    url = "/payment/?pageSize=2"

    while url:
        response = auth_client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) <= 2
        seen += [item["orderNumber"] for item in body["results"]]
        url, pages = body["next"], pages + 1

    assert pages == 3
    assert seen == numbers[::-1]
    assert len(set(seen)) == len(seen)


def test_payment_list_next_page_skips_payments_added_meanwhile(auth_client, make_payment):
    older = [make_payment().order_number for _ in range(3)]
    first = auth_client.get("/payment?pageSize=2").json()
    make_payment()  # newer than every listed row: belongs before page one, not on page two

    second = auth_client.get(first["next"]).json()

    assert [item["orderNumber"] for item in first["results"]] == older[:0:-1]
    assert [item["orderNumber"] for item in second["results"]] == older[:1]


def test_payment_list_matches_the_selector_order(auth_client, make_payment):
    for _ in range(3):
        make_payment()

    listed = [item["orderNumber"] for item in auth_client.get("/payment").json()["results"]]

    assert listed == [p.order_number for p in selectors.payment_list()]


def test_payment_list_rejects_a_forged_cursor_with_json_404(auth_client, make_payment):
    make_payment()

    response = auth_client.get("/payment/?cursor=not-a-cursor")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/nope", "/payments", "/payment/extra", "/payment//"])
def test_unknown_url_is_a_json_404(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_payment_collection_other_methods_are_a_json_405(auth_client, method):
    response = getattr(auth_client, method)("/payment/", {}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_payment_list_unexpected_error_is_a_json_500(monkeypatch, token):
    def broken():
        raise RuntimeError("database exploded")

    monkeypatch.setattr(selectors, "payment_list", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.get("/payment/")

    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "Internal server error.",
        "errors": {},
    }


@pytest.mark.parametrize("outcome", ["confirmed", "declined", "refunded"])
def test_payment_output_is_what_the_serializer_gives(settings, make_payment, outcome):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0 if outcome == "declined" else 1.0
    # As payment_create() returns it: the amount as given ("7", not "7.00"), the times in memory.
    fresh = make_payment(amount="7")
    if outcome == "refunded":
        fresh = services.payment_refund(order_number=fresh.order_number)
    stored = Payment.objects.get(pk=fresh.pk)
    assert stored.status == outcome

    for payment in (fresh, stored):
        expected = PaymentOutputSerializer(payment).data
        assert list(payment_output(payment).items()) == list(expected.items())
        assert JSONRenderer().render(payment_output(payment)) == JSONRenderer().render(expected)
    with timezone.override("America/St_Johns"):  # an offset of -03:30 or -02:30, not "Z"
        assert payment_output(stored) == PaymentOutputSerializer(stored).data
