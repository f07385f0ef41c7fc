"""Helpers shared by the Payments test modules (fixtures live in conftest.py)."""

import json
import runpy
import threading

from django.db import connection
from rest_framework.test import APIClient

import config.settings

# The fields of a payment in every answer (PaymentOutputSerializer).
PAYMENT_FIELDS = {
    "orderNumber",
    "status",
    "transactionId",
    "name",
    "address",
    "price",
    "paymentMethod",
    "createdAt",
    "updatedAt",
    "refundedAt",
}


def assert_error_shape(body: dict) -> None:
    """The one error shape: {"code", "message", "errors": {field: [message, ...]}}."""
    assert set(body) == {"code", "message", "errors"}, body
    assert isinstance(body["code"], str), body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert isinstance(body["errors"], dict), body
    for field, messages in body["errors"].items():
        assert isinstance(messages, list), field
        assert messages, field
        assert all(isinstance(message, str) for message in messages), field


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """A JSON answer with `status`, in the one error shape, with `code` and `fields` named."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == code
    assert set(body["errors"]) == set(fields)
    return body


def raw_body(payload: dict, **raw_fields: str) -> str:
    """The payload as JSON text, with each of raw_fields written as the literal text given."""
    body = json.dumps({**payload, **dict.fromkeys(raw_fields, "__RAW__")})
    for name, text in raw_fields.items():
        body = body.replace(f'"{name}": "__RAW__"', f'"{name}": {text}', 1)
    return body


def post_at_once(path: str, bodies: list, token: str) -> tuple[list, list]:
    """POST each of `bodies` to `path`, one thread each, all released together. Returns the
    (status, json) answers in the order of `bodies` (None where a thread raised) and the
    exceptions raised."""
    barrier = threading.Barrier(len(bodies))
    responses, errors = [None] * len(bodies), []

    def call(index, body):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait(timeout=10)
            response = client.post(path, body, format="json")
            responses[index] = (response.status_code, response.json())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection: don't leak it

    threads = [threading.Thread(target=call, args=item) for item in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return responses, errors


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    """Run the settings module afresh under `env`, leaving the loaded settings alone."""
    monkeypatch.setenv("PAYMENTS_VAR_DIR", str(tmp_path))
    for name in ("DJANGO_ENV", "DJANGO_DEBUG", "API_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(config.settings.__file__)
