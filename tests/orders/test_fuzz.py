"""Property-based fuzzing of POST /order and its input serializer; the OpenAPI schema documents
the contract (test_openapi.py checks it), this tries it on any input: whatever JSON arrives, the
answer is a 201 or a 4xx in the one error shape, never a 5xx; a refused price is named; an
accepted one is a 2-decimal string.

POST /order queues the payment task on commit; under django_db the test transaction never
commits, so no task runs and no broker is needed."""

import re
from decimal import Decimal

import hypothesis
import pytest
from common.errors import assert_error_shape
from common.fuzz import (
    FUZZ,
    as_parsed,
    as_sent,
    assert_price_named_exactly_when_invalid,
    assert_validated_or_refused,
    good_names,
    input_data,
    invalid_prices,
    json_values,
    mostly,
    texts,
    to_json,
    valid_prices,
)
from helpers import ORDER_FIELDS, ORDER_NUMBER_PATTERN
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from orders.apis import OrderCollectionApi

pytestmark = pytest.mark.django_db

FIELDS = ("name", "address", "price", "paymentMethod")


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


@FUZZ
@given(data=input_data())
def test_order_input_serializer_validates_any_value_without_raising(data):
    assert_validated_or_refused(OrderCollectionApi.InputSerializer(data=data), FIELDS)


@FUZZ
@given(valid=st.booleans(), data=st.data())
def test_order_input_serializer_names_price_exactly_when_it_is_invalid(valid, data):
    price = as_parsed(data.draw(valid_prices if valid else invalid_prices))
    body = {"name": "Ada", "address": "1 Loop Road", "price": price}

    assert_price_named_exactly_when_invalid(OrderCollectionApi.InputSerializer, body, valid)
