"""GET /metrics of Payments read back with prometheus_client's parser while payments happen.

One process, no PROMETHEUS_MULTIPROC_DIR: the default registry answers and counters keep what
earlier tests added, so every assertion is about a change."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("probability", "status"), [(1.0, "confirmed"), (0.0, "declined")])
def test_metrics_payments_are_counted_by_status(
    scrape, auth_client, payload, settings, probability, status
):
    settings.PAYMENTS_CONFIRM_PROBABILITY = probability
    before = scrape()

    assert auth_client.post("/payment", payload, format="json").status_code == 201
    assert auth_client.post("/payment", payload, format="json").status_code == 200  # a replay

    after = scrape()
    assert after.change_since(before, "payments_total", status=status) == 1


def test_metrics_a_refund_is_counted_once(scrape, auth_client, payload, confirm_always):
    auth_client.post("/payment", payload, format="json")
    before = scrape()

    for _ in range(2):
        response = auth_client.post(f"/payment/{payload['orderNumber']}/refund")
        assert response.status_code == 200

    after = scrape()
    assert after.change_since(before, "payments_total", status="refunded") == 1


def test_metrics_requests_are_counted_by_route_name_and_status_class(
    scrape, auth_client, api_client, payload
):
    post = {"method": "POST", "route": "payment-collection"}
    before = scrape()

    auth_client.post("/payment/", payload, format="json")
    api_client.post("/payment", payload, format="json")  # no token
    auth_client.post("/payment/abcdefgh/refund")  # no such payment

    after = scrape()
    assert after.change_since(before, "http_requests_total", **post, status="2xx") == 1
    assert after.change_since(before, "http_requests_total", **post, status="4xx") == 1
    refund = {"method": "POST", "route": "payment-refund", "status": "4xx"}
    assert after.change_since(before, "http_requests_total", **refund) == 1
    assert (
        after.change_since(before, "http_request_duration_seconds_count", **post, status="2xx") == 1
    )
