"""Identical requests racing each other: the unique index settles it, every caller agrees."""

import pytest
from helpers import post_at_once

from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.mark.parametrize("probability", [1.0, 0.0])
def test_payment_post_concurrent_identical_requests_make_one_payment(
    settings, payload, token, probability
):
    settings.PAYMENTS_CONFIRM_PROBABILITY = probability

    responses, errors = post_at_once("/payment", [payload] * THREADS, token)

    assert errors == []
    statuses = sorted(code for code, _ in responses)
    assert statuses == [200] * (THREADS - 1) + [201], responses
    assert len({body["transactionId"] for _, body in responses}) == 1
    assert {body["status"] for _, body in responses} == {"confirmed" if probability else "declined"}
    stored = Payment.objects.get(order_number=payload["orderNumber"])
    assert str(stored.transaction_id) == responses[0][1]["transactionId"]
    assert Payment.objects.count() == 1


def test_payment_post_concurrent_conflicting_prices_keep_one_payment(settings, payload, token):
    prices = ["1.00", "2.00"]
    answers, _ = post_at_once("/payment", [{**payload, "price": price} for price in prices], token)
    results = {price: answer[0] for price, answer in zip(prices, answers, strict=True) if answer}

    assert sorted(results.values()) == [201, 409], results
    winner = next(price for price, code in results.items() if code == 201)
    assert str(Payment.objects.get().amount) == winner
