"""Identical requests racing each other: the unique index settles it, every caller agrees."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def post_at_once(body: dict, token: str, count: int) -> tuple[list, list]:
    barrier = threading.Barrier(count)
    responses, errors = [], []

    def call():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait(timeout=10)
            response = client.post("/payment", body, format="json")
            responses.append((response.status_code, response.json()))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection: don't leak it

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return responses, errors


@pytest.mark.parametrize("probability", [1.0, 0.0])
def test_payment_post_concurrent_identical_requests_make_one_payment(
    settings, payload, token, probability
):
    settings.PAYMENTS_CONFIRM_PROBABILITY = probability

    responses, errors = post_at_once(payload, token, THREADS)

    assert errors == []
    statuses = sorted(code for code, _ in responses)
    assert statuses == [200] * (THREADS - 1) + [201], responses
    assert len({body["transactionId"] for _, body in responses}) == 1
    assert {body["status"] for _, body in responses} == {"confirmed" if probability else "declined"}
    stored = Payment.objects.get(order_number=payload["orderNumber"])
    assert str(stored.transaction_id) == responses[0][1]["transactionId"]
    assert Payment.objects.count() == 1


def test_payment_post_concurrent_conflicting_prices_keep_one_payment(settings, payload, token):
    barrier = threading.Barrier(2)
    results = {}

    def call(price):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait(timeout=10)
            response = client.post("/payment", {**payload, "price": price}, format="json")
            results[price] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(p,)) for p in ("1.00", "2.00")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results.values()) == [201, 409], results
    winner = next(price for price, code in results.items() if code == 201)
    assert str(Payment.objects.get().amount) == winner
