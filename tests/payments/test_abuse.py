"""Bad input and abuse of POST /payment: what only a payment has (the shared checks:
tests/contract/test_abuse.py). Always a JSON answer, never a 500 with details,
and no payment row unless the test's name says it creates one."""

import json

import pytest
from common.errors import post

from payments.models import Payment

pytestmark = pytest.mark.django_db


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
