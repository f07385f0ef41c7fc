"""Bad input and abuse of POST /order: what only an order has (the shared checks:
tests/contract/test_abuse.py). Always a JSON answer, never a 500 with details, and no
order written unless the test's name says it creates one."""

import json
import re

import pytest
from common.errors import post, raw_body
from helpers import ORDER_NUMBER_PATTERN

from orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("literal", ["-0", "-0.0", "-0e5", "-0.000"])
def test_order_create_api_creates_one_with_negative_zero_as_zero(api_client, service, literal):
    # Found by the fuzz test: -0 passes min_value=0 and was echoed and stored as "-0.00". As a
    # JSON number it is 0 (the schema's minimum is 0); the string "-0" has a sign its pattern
    # refuses (tests/contract/test_prices.py).
    response = post(api_client, service, raw_body(service.valid_body, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == "0.00"
    assert str(Order.objects.get().price) == "0.00"


def test_order_create_api_creates_one_ignoring_unknown_fields(api_client, service):
    forged = {"state": "delivered", "orderNumber": "aaaaaaaa", "history": [], "note\x00": "\ud800"}

    response = post(api_client, service, json.dumps({**service.valid_body, **forged}))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "created"
    assert body["orderNumber"] != "aaaaaaaa"
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert "history" not in body
    assert Order.objects.get().state == "created"
