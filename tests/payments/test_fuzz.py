"""Property-based fuzzing of POST /payment and its input serializer. The OpenAPI schema
(test_openapi.py) documents the contract; this checks it holds whatever JSON arrives: the answer
is a 201/200 or a 4xx in the one error shape, never a 5xx; a refused price is named; an accepted
one is a 2-decimal string."""

import uuid

import pytest
from common import fuzz
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from payments.apis import PaymentCollectionApi

pytestmark = pytest.mark.django_db

DOCUMENTED = {"orderNumber", "status", "transactionId", "name", "address", "price", "createdAt"}
FIELDS = ("orderNumber", "name", "address", "price", "paymentMethod")
good_order_numbers = st.from_regex(r"\A[a-z0-9]{8}\Z")


@fuzz.FUZZ
@given(case=fuzz.create_requests(FIELDS, orderNumber=(good_order_numbers, fuzz.json_values)))
def test_payment_create_api_answers_any_json_with_a_payment_or_a_4xx(case):
    sent, tag = case
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.PAYMENTS_API_TOKENS[0]}")

    response = client.post("/payment", fuzz.to_json(sent), content_type="application/json")

    body = fuzz.accepted_body(response, sent, tag, accepted=(200, 201))
    if body is None:
        return
    assert set(body) >= DOCUMENTED
    assert body["status"] in {"confirmed", "declined"}
    uuid.UUID(body["transactionId"])
    if response.status_code == 201:
        assert body["orderNumber"] == sent["orderNumber"]
        fuzz.assert_text_kept_as_sent(body, sent)


@fuzz.FUZZ
@given(data=fuzz.input_data(orderNumber=good_order_numbers | fuzz.python_values))
def test_payment_input_serializer_validates_any_value_without_raising(data):
    fuzz.assert_validated_or_refused(PaymentCollectionApi.InputSerializer(data=data), FIELDS)


@fuzz.FUZZ
@given(valid=st.booleans(), data=st.data())
def test_payment_input_serializer_names_price_exactly_when_it_is_invalid(valid, data):
    price = fuzz.as_parsed(data.draw(fuzz.valid_prices if valid else fuzz.invalid_prices))
    body = {"orderNumber": "abcd1234", "name": "Ada", "address": "1 Loop Road", "price": price}

    fuzz.assert_price_named_exactly_when_invalid(PaymentCollectionApi.InputSerializer, body, valid)
