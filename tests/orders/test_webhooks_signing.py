"""The signature, checked by the Standard Webhooks reference verifier."""

import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from orders.webhooks import signing


def test_a_signed_message_passes_the_reference_verifier():
    secret = signing.secret_generate()
    body = '{"id":"msg_1","type":"order.created","data":{"name":"Zoë"}}'.encode()

    headers = signing.headers(
        secret=secret, message_id="msg_1", timestamp=int(time.time()), body=body
    )

    assert Webhook(secret).verify(body, headers)["data"]["name"] == "Zoë"
    assert headers["webhook-signature"].startswith("v1,")


def test_another_secret_or_body_fails_the_verifier():
    secret = signing.secret_generate()
    headers = signing.headers(secret=secret, message_id="m", timestamp=int(time.time()), body=b"{}")

    with pytest.raises(WebhookVerificationError):
        Webhook(signing.secret_generate()).verify(b"{}", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b"{ }", headers)


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        ("whsec_" + "A" * 32, True),  # 24 bytes
        ("whsec_short", False),
        ("A" * 32, False),  # no prefix
        ("whsec_not base64!", False),
    ],
)
def test_secret_form(secret, valid):
    assert signing.secret_is_valid(secret) is valid


def test_generated_secrets_are_valid_and_differ():
    first, second = signing.secret_generate(), signing.secret_generate()
    assert signing.secret_is_valid(first) and first != second
