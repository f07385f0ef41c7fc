"""Helpers shared by the Payments test modules (fixtures live in conftest.py)."""

import threading

import common.errors
from common.schema import schema_fields
from django.db import connection
from rest_framework.test import APIClient

# The fields of a payment in every answer, as the committed schema documents them.
PAYMENT_FIELDS = schema_fields("payments", "Payment")


def at_once(*targets) -> tuple[list, list]:
    """Run the callables, one thread each, all released together (a barrier lines them up).
    Returns what each returned, in the order of `targets` (None where it raised), and the
    exceptions raised. Each thread closes its own database connection."""
    barrier = threading.Barrier(len(targets))
    results, errors = [None] * len(targets), []

    def run(index, target):
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection: don't leak it

    threads = [threading.Thread(target=run, args=item) for item in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


def post_at_once(path: str, bodies: list, token: str) -> tuple[list, list]:
    """POST each of `bodies` to `path`, one thread each, all released together. Returns the
    (status, json) answers in the order of `bodies` (None where a thread raised) and the
    exceptions raised."""

    def poster(body):
        client = APIClient()  # made before the threads are released, as the barrier is
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        def post():
            response = client.post(path, body, format="json")
            return response.status_code, response.json()

        return post

    return at_once(*[poster(body) for body in bodies])


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    """Payments' settings module run afresh under `env` (common/errors.py)."""
    return common.errors.load_settings(monkeypatch, tmp_path, "PAYMENTS_VAR_DIR", **env)
