"""Payments' HTTP API (payments/apis.py): create, read and list, bad input (a JSON 400 or 415
naming the problem, never a 500, no row), hostile bodies, and GET /payment/?updatedSince=, what
a reconciler reads, the least recently changed first."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from common.errors import post, raw_body
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from helpers import PAYMENT_FIELDS
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from payments import selectors, services
from payments.apis import PaymentOutputSerializer, parse_rfc_3339, payment_output
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


# --- bad input to POST /payment: a JSON 400 (or 415) naming the problem, never a 500, no row ---


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"]
    assert isinstance(body["errors"][field], list)
    assert body["errors"][field]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("field", ["orderNumber", "name", "address", "price"])
def test_payment_post_without_a_field_names_it(auth_client, payload, field):
    del payload[field]

    response = auth_client.post("/payment", payload, format="json")

    assert_invalid(response, field)
    assert set(response.json()["errors"]) == {field}


@pytest.mark.parametrize("field", ["orderNumber", "name", "address", "price"])
def test_payment_post_with_a_null_field_names_it(auth_client, payload, field):
    response = auth_client.post("/payment", {**payload, field: None}, format="json")

    assert_invalid(response, field)


def test_payment_post_with_an_empty_object_names_every_field(auth_client, payment_path):
    response = auth_client.post(payment_path, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"orderNumber", "name", "address", "price"}


@pytest.mark.parametrize(
    "number",
    ["ABCD1234", "Abcd1234", "abc1234", "abcd12345", "abcd-123", "abcd 123", "", "abcd123é", 1234],
    ids=["upper", "mixed", "7-chars", "9-chars", "dash", "space", "empty", "accent", "short-int"],
)
def test_payment_post_rejects_a_malformed_order_number(auth_client, payload, number):
    response = auth_client.post("/payment", {**payload, "orderNumber": number}, format="json")

    assert_invalid(response, "orderNumber")


@pytest.mark.parametrize(
    "price",
    [
        "-0.01",
        -5,
        "1.234",
        0.125,
        "12345678901.00",  # 11 whole digits: one more than 12 digits with 2 places allow
        "1e20",
        10**30,
        "abc",
        "",
        "NaN",
        "Infinity",
        True,
        [],
        {"amount": 1},
    ],
    ids=[
        "negative",
        "negative-int",
        "3-places",
        "3-places-number",
        "too-many-digits",
        "exponent",
        "huge-int",
        "word",
        "empty",
        "nan",
        "infinity",
        "bool",
        "list",
        "object",
    ],
)
def test_payment_post_rejects_a_bad_price(auth_client, payload, price):
    response = auth_client.post("/payment", {**payload, "price": price}, format="json")

    assert_invalid(response, "price")


def test_payment_post_accepts_the_largest_price(auth_client, payload):
    response = auth_client.post("/payment", {**payload, "price": "9999999999.99"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["price"] == "9999999999.99"


def test_payment_post_stores_negative_zero_as_zero(auth_client, payload):
    # The JSON number -0.0: the string "-0" has a sign the schema's pattern refuses.
    created = auth_client.post("/payment", {**payload, "price": -0.0}, format="json")
    again = auth_client.post("/payment", {**payload, "price": "0"}, format="json")

    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json()["price"] == again.json()["price"] == "0.00"


@pytest.mark.parametrize(
    "raw_price",
    ["1e400", "-1e400", "9" * 5000],
    ids=["float-overflow", "negative-overflow", "5000-digits"],
)
def test_payment_post_rejects_an_out_of_range_json_number(auth_client, payload, raw_price):
    body = raw_body(payload, price=raw_price)

    response = auth_client.post("/payment", body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"invalid", "parse_error"}
    assert not Payment.objects.exists()


@pytest.mark.parametrize("field", ["name", "address"])
def test_payment_post_rejects_a_blank_text_field(auth_client, payload, field):
    for blank in ["", "   "]:
        response = auth_client.post("/payment", {**payload, field: blank}, format="json")

        assert_invalid(response, field)


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_payment_post_rejects_a_too_long_text_field(auth_client, payload, field, limit):
    response = auth_client.post("/payment", {**payload, field: "x" * (limit + 1)}, format="json")

    assert_invalid(response, field)


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_payment_post_counts_the_length_before_trimming(auth_client, payload, field, limit):
    # The schema's maxLength counts what was sent: a space more is too long, trimmed or not.
    response = auth_client.post("/payment", {**payload, field: " " + "x" * limit}, format="json")

    assert_invalid(response, field)


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_payment_post_accepts_a_text_field_at_its_limit(auth_client, payload, field, limit):
    response = auth_client.post("/payment", {**payload, field: "é" * limit}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()[field] == "é" * limit


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
def test_payment_post_rejects_characters_the_database_cannot_store(auth_client, payload, bad):
    body = json.dumps({**payload, "name": bad})  # ASCII escapes, as a JSON client sends them

    response = auth_client.post("/payment", body, content_type="application/json")

    assert_invalid(response, "name")


@pytest.mark.parametrize("raw", ['{"name": ', "{'a': 1}", "not json", '{"price": NaN}'])
def test_payment_post_rejects_malformed_json(auth_client, payment_path, raw):
    response = auth_client.post(payment_path, raw, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert body["message"]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '[{"orderNumber": "abcd1234"}]', '"text"', "42", "null"])
def test_payment_post_rejects_a_body_that_is_not_an_object(auth_client, raw):
    response = auth_client.post("/payment", raw, content_type="application/json")

    assert_invalid(response, "nonFieldErrors")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
def test_payment_post_rejects_another_content_type(auth_client, payload, content_type):
    response = auth_client.post("/payment", json.dumps(payload), content_type=content_type)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not Payment.objects.exists()


def test_payment_post_rejects_multipart_form_data(auth_client, payload):
    response = auth_client.post("/payment", payload, format="multipart")

    assert response.status_code == 415
    assert not Payment.objects.exists()


# --- hostile bodies: what only a payment has (the shared checks: tests/contract/test_abuse.py) ---


def test_payment_create_api_creates_one_ignoring_unknown_fields(
    auth_client, service, decline_always
):
    forged = {"status": "confirmed", "transactionId": "0" * 32, "refundedAt": "2020-01-01T00:00Z"}
    forged |= {"note\x00": "\ud800"}

    response = post(auth_client, service, json.dumps({**service.valid_body, **forged}))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["refundedAt"]) == ("declined", None)
    assert body["transactionId"] != forged["transactionId"]
    assert Payment.objects.get().status == "declined"


# --- GET /payment/?updatedSince=: what a reconciler reads, the least recently changed first ----

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def changed_at(payment, when: datetime) -> None:
    Payment.objects.filter(pk=payment.pk).update(updated_at=when)


def read_all(client, url: str) -> list[str]:
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        seen += [item["orderNumber"] for item in body["results"]]
        url = body["next"]
    return seen


def test_changed_since_lists_only_what_changed_at_or_after_then(auth_client, make_payment):
    before, at, after = make_payment(), make_payment(), make_payment()
    changed_at(before, T0 - timedelta(microseconds=1))
    changed_at(at, T0)
    changed_at(after, T0 + timedelta(seconds=1))

    response = auth_client.get("/payment/", {"updatedSince": "2026-12-03T12:00:00Z"})

    assert response.status_code == 200
    numbers = [item["orderNumber"] for item in response.json()["results"]]
    assert numbers == [at.order_number, after.order_number]


def test_changed_since_is_least_recently_changed_first_across_pages(auth_client, make_payment):
    payments = [make_payment() for _ in range(5)]
    # Changed in another order than created; two at the same instant (a batch's one `now`).
    for payment, seconds in zip(payments, [4, 1, 3, 1, 2], strict=True):
        changed_at(payment, T0 + timedelta(seconds=seconds))

    seen = read_all(auth_client, "/payment/?pageSize=2&updatedSince=2026-12-03T12:00:00Z")

    by_change = sorted(payments, key=lambda p: (Payment.objects.get(pk=p.pk).updated_at, p.pk))
    assert seen == [p.order_number for p in by_change]


def test_changed_since_sees_a_payment_refunded_while_paging_again(auth_client, make_payment):
    """A refund moves the payment to the end of the list: a reader following `next` sees its
    new state instead of missing it."""
    confirmed = [make_payment() for _ in range(3)]
    for n, payment in enumerate(confirmed):
        Payment.objects.filter(pk=payment.pk).update(
            status="confirmed", updated_at=T0 + timedelta(seconds=n)
        )
    first = auth_client.get("/payment/?pageSize=2&updatedSince=2026-12-03T12:00:00Z").json()
    services.payment_refund(order_number=confirmed[0].order_number)

    rest = read_all(auth_client, first["next"])

    assert [item["orderNumber"] for item in first["results"]] == [
        p.order_number for p in confirmed[:2]
    ]
    assert rest == [confirmed[2].order_number, confirmed[0].order_number]


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-12-03T12:00:00Z", T0),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("2026-12-03t12:00:00z", T0),
        ("2026-12-03T13:00:00+01:00", T0),
        ("2026-12-03T12:00:00.5Z", T0 + timedelta(microseconds=500000)),
        # Finer than a microsecond: cut, never rounded up past the moment asked for.
        ("2026-12-03T12:00:00.0000019Z", T0 + timedelta(microseconds=1)),
    ],
)
def test_parse_rfc_3339_reads_each_spelling(value, moment):
    assert parse_rfc_3339(value) == moment


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2026-12-03",
        "2026-12-03 12:00:00Z",  # a space, or a '+' offset sent unencoded ('+' reads as a space)
        "2026-12-03T12:00:00 01:00",
        "2026-12-03T12:00:00",  # no offset: a local time, ambiguous
        "2026-12-03T12:00Z",  # no seconds
        "2026-02-30T12:00:00Z",  # no such day
        "2026-12-03T25:00:00Z",
        # No UTC time: beyond the calendar either way once the offset is applied.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "\uff12\uff10\uff12\uff16-12-03T12:00:00Z",  # full-width digits
        "2026-12-03T12:00:00Z\x00",
        "1" * 5000,
    ],
)
def test_changed_since_refuses_anything_but_rfc_3339_naming_the_parameter(auth_client, value):
    response = auth_client.get("/payment/", {"updatedSince": value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["updatedSince"]


@pytest.mark.parametrize("position", ["abc", "", "1.5", "2026-13-01 00:00:00+00:00"])
def test_changed_since_refuses_a_forged_cursor_position_with_json_404(
    auth_client, make_payment, position
):
    make_payment()
    cursor = base64.b64encode(f"o=0&p={position}".encode()).decode()

    response = auth_client.get(
        "/payment/", {"updatedSince": "2026-01-01T00:00:00Z", "cursor": cursor}
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_changed_since_uses_the_index(make_payment):
    make_payment()
    plan = selectors.payment_list_changed_since(since=T0).explain()

    index = "payment_updated_at_idx"
    if connection.vendor == "sqlite":
        assert index in plan
    else:  # a tiny table: PostgreSQL may prefer a scan, but the index must exist
        with connection.cursor() as cursor:
            names = connection.introspection.get_constraints(cursor, Payment._meta.db_table)
        assert index in names
