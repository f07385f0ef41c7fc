"""Every way POST /order can be refused, and the one JSON error shape each refusal uses."""

import pytest
from common.errors import assert_error

from orders.models import Order

pytestmark = pytest.mark.django_db

VALID = {"name": "Ada Lovelace", "address": "12 Analytical Row", "price": "12.50"}


@pytest.fixture(autouse=True)
def no_order_is_written():
    yield
    assert not Order.objects.exists()


@pytest.mark.parametrize("missing", ["name", "address", "price"])
def test_order_create_api_reports_a_missing_field(api_client, missing):
    body = {key: value for key, value in VALID.items() if key != missing}

    response = api_client.post("/order", body, format="json")

    errors = assert_error(response, 400, "invalid", fields=(missing,))["errors"]
    assert errors[missing] == ["This field is required."]


def test_order_create_api_reports_every_missing_field_of_an_empty_object(api_client):
    response = api_client.post("/order/", {}, format="json")

    assert_error(response, 400, "invalid", fields=("name", "address", "price"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "twelve"),
        ("price", True),
        ("price", [12]),
        ("price", {"amount": 12}),
        ("price", None),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("name", ["Ada"]),
        ("name", {"first": "Ada"}),
        ("name", True),
        ("name", None),
        ("address", ["12 Analytical Row"]),
    ],
)
def test_order_create_api_reports_a_wrong_type(api_client, field, value):
    response = api_client.post("/order", {**VALID, field: value}, format="json")

    assert_error(response, 400, "invalid", fields=(field,))


@pytest.mark.parametrize("price", [-0.01, -1, -100])
def test_order_create_api_refuses_a_negative_price(api_client, price):
    response = api_client.post("/order", {**VALID, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "greater than or equal to 0" in errors["price"][0]


@pytest.mark.parametrize("price", ["-0.01", "-100", "-0", "+1", " 1", "1_000", "\u0661\u0662"])
def test_order_create_api_refuses_a_price_string_with_a_sign_space_or_other_digits(
    api_client, price
):
    # Decimal() takes all of these; the schema's pattern (ASCII digits only) does not.
    response = api_client.post("/order", {**VALID, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "ASCII digits" in errors["price"][0]


@pytest.mark.parametrize("price", ["12.505", 0.001, "1.000", 1.001])
def test_order_create_api_refuses_more_than_two_decimal_places(api_client, price):
    response = api_client.post("/order", {**VALID, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "2 decimal places" in errors["price"][0]


def test_order_create_api_refuses_a_price_with_too_many_digits(api_client):
    response = api_client.post("/order", {**VALID, "price": "12345678901.00"}, format="json")

    assert_error(response, 400, "invalid", fields=("price",))


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_order_create_api_refuses_a_value_that_is_too_long(api_client, field, limit):
    response = api_client.post("/order", {**VALID, field: "x" * (limit + 1)}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert str(limit) in errors[field][0]


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_order_create_api_counts_the_length_before_trimming(api_client, field, limit):
    # The schema's maxLength counts what was sent: a space more is too long, trimmed or not.
    response = api_client.post("/order", {**VALID, field: " " + "x" * limit}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert str(limit) in errors[field][0]


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize("field", ["name", "address"])
def test_order_create_api_refuses_an_empty_text(api_client, field, blank):
    response = api_client.post("/order", {**VALID, field: blank}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert errors[field] == ["This field may not be blank."]


def test_order_create_api_refuses_a_null_character(api_client):
    # PostgreSQL cannot store NUL in text: it must be refused before it reaches the database.
    response = api_client.post("/order", {**VALID, "name": "Ada\x00"}, format="json")

    assert_error(response, 400, "invalid", fields=("name",))


@pytest.mark.parametrize(
    "raw", ['{"name": "Ada",', "{'name': 'Ada'}", "not json", '{"price": NaN}']
)
def test_order_create_api_refuses_malformed_json(api_client, raw):
    response = api_client.post("/order", raw, content_type="application/json")

    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("raw", ["[]", '[{"name": "Ada"}]', '"Ada"', "12", "null"])
def test_order_create_api_refuses_json_that_is_not_an_object(api_client, raw):
    response = api_client.post("/order", raw, content_type="application/json")

    errors = assert_error(response, 400, "invalid", fields=("nonFieldErrors",))["errors"]
    assert errors["nonFieldErrors"]


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", '{"name": "Ada", "address": "x", "price": "1"}'),
        ("application/x-www-form-urlencoded", "name=Ada&address=x&price=1"),
        ("application/xml", "<order/>"),
    ],
)
def test_order_create_api_refuses_a_content_type_other_than_json(api_client, content_type, raw):
    response = api_client.post("/order", raw, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")


def test_order_create_api_refuses_a_multipart_form(client):
    response = client.post("/order", VALID)  # Django's test client sends multipart by default

    assert_error(response, 415, "unsupported_media_type")
