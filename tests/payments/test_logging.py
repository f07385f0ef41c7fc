"""The request id: read or made by the middleware, sent back, and on the request's log lines."""

import pytest

pytestmark = pytest.mark.django_db


def test_request_id_from_orders_is_on_the_payment_log_line(auth_client, payload, log_events):
    response = auth_client.post("/payment", payload, format="json", HTTP_X_REQUEST_ID="req-o-1")

    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-o-1"
    [event] = [e for e in log_events() if e["logger"] == "payments.services"]
    assert event["request_id"] == "req-o-1"
    assert event["service"] == "payments"
    assert payload["orderNumber"] in event["message"]


@pytest.mark.parametrize("sent", [None, "x" * 65, "bad id"])
def test_request_id_middleware_makes_one_when_none_is_usable(api_client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = api_client.get("/payment/", **headers)
    assert len(response["X-Request-ID"]) == 32
    int(response["X-Request-ID"], 16)
