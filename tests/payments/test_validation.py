"""Bad input to POST /payment: a JSON 400 (or 415) naming the problem, never a 500, no row."""

import json

import pytest
from common.errors import raw_body

from payments.models import Payment

pytestmark = pytest.mark.django_db


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
