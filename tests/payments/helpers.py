"""Helpers shared by the Payments test modules (fixtures live in conftest.py)."""

import threading

import common.errors
from common.contract import schema_fields
from django.db import connection
from rest_framework.test import APIClient

# The fields of a payment in every answer, as the committed schema documents them.
PAYMENT_FIELDS = schema_fields("payments", "Payment")


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
    """Payments' settings module run afresh under `env` (common/errors.py)."""
    return common.errors.load_settings(monkeypatch, tmp_path, "PAYMENTS_VAR_DIR", **env)
