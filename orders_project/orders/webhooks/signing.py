"""The Standard Webhooks signature: webhook-id, webhook-timestamp and webhook-signature
("v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed with the base64 key of a whsec_ secret),
signed by the specification's own package (standardwebhooks); the tests verify every signature
with its verifier."""

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the form of a secret, not one)


def secret_generate() -> str:
    """A new secret: whsec_ and 24 random bytes in base64 (Svix's size)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_is_valid(secret: str) -> bool:
    """whsec_ and a base64 key of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        return False
    return 24 <= len(key) <= 64


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header's value for this message."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
