"""Property-based fuzzing of POST /order and its input serializer; the OpenAPI schema documents
the contract (test_openapi.py checks it), this tries it on any input: whatever JSON arrives, the
answer is a 201 or a 4xx in the one error shape, never a 5xx; a refused price is named; an
accepted one is a 2-decimal string.

POST /order queues the payment task on commit; under django_db the test transaction never
commits, so no task runs and no broker is needed."""

import re

import pytest
from common import fuzz
from helpers import ORDER_FIELDS, ORDER_NUMBER_PATTERN
from hypothesis import given
from rest_framework.test import APIClient

from orders.apis import OrderCollectionApi

pytestmark = pytest.mark.django_db

FIELDS = ("name", "address", "price", "paymentMethod")


@fuzz.FUZZ
@given(case=fuzz.create_requests(FIELDS))
def test_order_create_api_answers_any_json_with_an_order_or_a_4xx(case):
    sent, tag = case

    response = APIClient().post("/order", fuzz.to_json(sent), content_type="application/json")

    body = fuzz.accepted_body(response, sent, tag)
    if body is None:
        return
    assert set(body) >= ORDER_FIELDS
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert body["state"] == "created"
    fuzz.assert_text_kept_as_sent(body, sent)


@fuzz.FUZZ
@given(data=fuzz.input_data())
def test_order_input_serializer_validates_any_value_without_raising(data):
    fuzz.assert_validated_or_refused(OrderCollectionApi.InputSerializer(data=data), FIELDS)


@fuzz.FUZZ
@given(case=fuzz.judged_prices())
def test_order_input_serializer_names_price_exactly_when_it_is_invalid(case):
    price, valid = case
    body = {"name": "Ada", "address": "1 Loop Road", "price": price}

    fuzz.assert_price_named_exactly_when_invalid(OrderCollectionApi.InputSerializer, body, valid)
