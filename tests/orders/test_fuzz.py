"""Property-based fuzzing of POST /order and its input serializer; the OpenAPI schema documents
the contract (test_openapi.py checks it), this tries it on any input: whatever JSON arrives, the
answer is a 201 or a 4xx in the one error shape, never a 5xx; a refused price is named; an
accepted one is a 2-decimal string.

POST /order queues the payment task on commit; under django_db the test transaction never
commits, so no task runs and no broker is needed."""

import json
import re
from decimal import Decimal

import hypothesis
import pytest
from helpers import ORDER_FIELDS, ORDER_NUMBER_PATTERN, assert_error_shape
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from orders.apis import OrderCollectionApi

pytestmark = pytest.mark.django_db

# Bounded; no example database written into the working tree; clients built inside the tests.
FUZZ = hypothesis.settings(max_examples=150, deadline=None, database=None)
FIELDS = ("name", "address", "price", "paymentMethod")


class Raw(str):
    """JSON text written into the body as it is: numbers json.dumps cannot spell (1e400, -0)."""


def to_json(value) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        items = (f"{json.dumps(key)}: {to_json(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(to_json, value)) + "]"
    return json.dumps(value)  # a float NaN or inf becomes the NaN/Infinity literal


def as_sent(value):
    """The value the server reads: a Raw fragment is JSON text."""
    return json.loads(value, parse_float=Decimal) if isinstance(value, Raw) else value


def as_parsed(price):
    """A price as the parser hands it to the serializer: a Raw number is a Decimal."""
    return Decimal(price) if isinstance(price, Raw) else price


# Every character, NUL and lone surrogates included; lengths around the 200/500 limits too.
any_char = st.characters(exclude_categories=())
texts = st.one_of(
    st.text(any_char, max_size=20),
    st.text(max_size=20),
    st.builds(lambda char, size: char * size, any_char, st.integers(190, 510)),
)
ODD_NUMBERS = [
    *("1e400", "-1e400", "1e-400", "1e9999999999999999999", "0.10000000000000000001", "9" * 5000),
    *("-0", "-0.0", "0.1", "1E+2", "1" + "0" * 4400, "NaN", "Infinity", "-Infinity"),
]
odd_numbers = st.sampled_from(ODD_NUMBERS).map(Raw)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: Raw(str(d))),
    texts,
    odd_numbers,
)
json_values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    ),
    (st.integers(1, 60) | st.sampled_from([2_000, 30_000])).map(lambda n: Raw("[" * n + "]" * n)),
)


def number_or_string(decimals):
    return st.tuples(decimals, st.booleans()).map(lambda t: Raw(str(t[0])) if t[1] else str(t[0]))


valid_prices = st.one_of(
    number_or_string(st.decimals(0, Decimal("9999999999.99"), places=2)),
    st.integers(0, 9_999_999_999),
    st.decimals(0, 1000, places=1).map(lambda d: f" {d} "),
)
invalid_prices = st.one_of(
    number_or_string(st.decimals(Decimal("-1e12"), Decimal("-0.01"), places=2)),
    number_or_string(st.decimals(0, 10**6, places=3)),
    number_or_string(st.decimals(Decimal("1e10"), Decimal("1e30"), places=0)),
    st.integers(min_value=10**10),
    st.sampled_from(["1e400", "-1e400", "1e-400", "9" * 5000, "0.10000000000000000001"]).map(Raw),
    st.sampled_from(["", "NaN", "Infinity", "-Infinity", "inf", "sNaN", "1,5", "0x10"]),
    st.from_regex(r"\A[A-Za-z]+\Z"),
    st.none(),
    st.booleans(),
    st.lists(scalars, max_size=3),
    st.dictionaries(texts, scalars, max_size=3),
)
good_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


def mostly(draw, good, anything):
    """Mostly a well-formed value, so that enough requests get as far as a 201."""
    return draw(anything) if draw(st.integers(0, 7)) == 7 else draw(good)


@st.composite
def order_requests(draw) -> tuple[object, str]:
    """A body and what its price is: "valid", "invalid" (refused by name) or "any" (unknown)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values), "any"  # not even an object, most of the time
    tag = draw(st.sampled_from(["valid", "valid", "invalid", "any"]))
    price = draw({"valid": valid_prices, "invalid": invalid_prices, "any": json_values}[tag])
    body = {
        "name": mostly(draw, good_names, texts | json_values),
        "address": mostly(draw, good_names, texts | json_values),
        "price": price,
    }
    if draw(st.booleans()):
        body[draw(texts)] = draw(json_values)  # an unknown field, ignored, or one of the above
    dropped = draw(st.sampled_from([None, None, None, *FIELDS]))
    body.pop(dropped, None)
    if "price" not in body:
        tag = "invalid"  # named as required
    elif body["price"] is not price:
        tag = "any"  # the unknown field was "price" after all
    return body, tag


@FUZZ
@given(case=order_requests())
def test_order_create_api_answers_any_json_with_an_order_or_a_4xx(case):
    sent, tag = case

    response = APIClient().post("/order", to_json(sent), content_type="application/json")

    status = response.status_code
    hypothesis.event(f"{status} {tag}")  # the spread shows with --hypothesis-show-statistics
    assert status == 201 or 400 <= status < 500, (status, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if status >= 400:
        assert_error_shape(body)
        if body["code"] == "invalid" and tag != "any":
            assert ("price" in body["errors"]) == (tag == "invalid"), body
        return
    assert tag != "invalid", body
    assert set(body) >= ORDER_FIELDS
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert body["state"] == "created"
    assert re.fullmatch(r"\d+\.\d{2}", body["price"]), body["price"]
    assert Decimal(body["price"]) == Decimal(str(sent["price"]).strip())
    for field in ("name", "address"):
        assert body[field] == str(as_sent(sent[field])).strip()
        assert "\x00" not in body[field]


python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: d.scaleb(400))
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "name": good_names | texts | python_values,
            "address": good_names | texts | python_values,
            "price": valid_prices.map(as_parsed) | python_values,
        },
    )
    | python_values
)
def test_order_input_serializer_validates_any_value_without_raising(data):
    serializer = OrderCollectionApi.InputSerializer(data=data)

    if serializer.is_valid():
        assert set(serializer.validated_data) == set(FIELDS)
        price = serializer.validated_data["price"]
        assert isinstance(price, Decimal)
        assert price.is_finite()
        assert price >= 0
        assert price.as_tuple().exponent == -2
        assert len(price.as_tuple().digits) <= 12
    else:
        assert serializer.errors
        assert all(isinstance(messages, list) for messages in serializer.errors.values())


@FUZZ
@given(valid=st.booleans(), data=st.data())
def test_order_input_serializer_names_price_exactly_when_it_is_invalid(valid, data):
    price = as_parsed(data.draw(valid_prices if valid else invalid_prices))
    fields = {"name": "Ada", "address": "1 Loop Road", "price": price}

    serializer = OrderCollectionApi.InputSerializer(data=fields)

    assert serializer.is_valid() is valid, serializer.errors
    if valid:
        assert serializer.validated_data["price"] == Decimal(str(price).strip())
    else:
        assert set(serializer.errors) == {"price"}
