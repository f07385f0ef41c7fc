"""The scenario of README's curl commands over HTTP against the real processes."""

import time

import pytest
import requests

pytestmark = pytest.mark.e2e

LEGAL_TRANSITIONS = {
    (None, "created"),
    ("created", "confirmed"),
    ("created", "cancelled"),
    ("confirmed", "delivered"),
    ("confirmed", "cancelled"),
}
PAYMENT_FOR_STATE = {"confirmed": "confirmed", "delivered": "confirmed", "cancelled": "declined"}


def wait_for_state(stack, number: str, accepted: set[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = requests.get(f"{stack.orders_url}/order/status/{number}", timeout=5).json()["state"]
        if state in accepted:
            return state
        time.sleep(0.1)
    pytest.fail(f"order {number} stayed {state}, expected one of {sorted(accepted)}")


def create_order(stack, price="10.00", method=None) -> dict:
    body = {"name": "Ada Lovelace", "address": "12 Analytical St", "price": price}
    if method:
        body["paymentMethod"] = method
    response = requests.post(f"{stack.orders_url}/order", json=body, timeout=5)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "created"
    assert response.json()["paymentMethod"] == (method or "card")
    return response.json()


def payment_of(stack, number: str) -> dict:
    (payment,) = [
        p for p in all_pages(stack, f"{stack.payments_url}/payment/") if p["orderNumber"] == number
    ]
    return payment


def moves_of(stack, number: str) -> list:
    order = requests.get(f"{stack.orders_url}/order/{number}", timeout=5).json()
    return [(row["from"], row["to"]) for row in order["history"]]


def orders_metric(stack, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{stack.orders_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def all_pages(stack, url: str) -> list[dict]:
    """Every page of a Payments list, read with the service token (payments are private)."""
    items = []
    headers = {"Authorization": f"Bearer {stack.token}"}
    while url:
        page = requests.get(url, headers=headers, timeout=5).json()
        items += page["results"]
        url = page["next"]
    return items


def test_scenario_every_order_is_paid_once_and_reaches_its_final_state(stack):
    methods = ["test_confirm", "test_decline", "card", "cash_on_delivery"] * 5
    numbers = [
        create_order(stack, price=f"{i}.50", method=method)["orderNumber"]
        for i, method in enumerate(methods)
    ]

    decided = {
        n: wait_for_state(stack, n, {"confirmed", "delivered", "cancelled"}) for n in numbers
    }
    final = {
        n: wait_for_state(stack, n, {"delivered"}, timeout=stack.delivery_delay + 15)
        if state != "cancelled"
        else state
        for n, state in decided.items()
    }

    # The test methods choose the outcome; card's coin may go either way.
    for number, method in zip(numbers, methods, strict=True):
        if method in ("test_confirm", "cash_on_delivery"):
            assert final[number] == "delivered", (method, final[number])
        elif method == "test_decline":
            assert final[number] == "cancelled", (method, final[number])

    payments = [
        p
        for p in all_pages(stack, f"{stack.payments_url}/payment/?pageSize=7")
        if p["orderNumber"] in final
    ]
    assert sorted(p["orderNumber"] for p in payments) == sorted(numbers)  # exactly one each
    for payment in payments:
        assert payment["status"] == PAYMENT_FOR_STATE[final[payment["orderNumber"]]]

    for number, state in final.items():
        order = requests.get(f"{stack.orders_url}/order/{number}", timeout=5).json()
        transitions = [(row["from"], row["to"]) for row in order["history"]]
        assert set(transitions) <= LEGAL_TRANSITIONS, transitions
        assert transitions[0] == (None, "created") and transitions[-1][1] == state == order["state"]


def test_scenario_confirmed_then_delivered(stack):
    number = create_order(stack, method="test_confirm")["orderNumber"]

    wait_for_state(stack, number, {"delivered"}, timeout=stack.delivery_delay + 30)

    assert moves_of(stack, number) == [
        (None, "created"),
        ("created", "confirmed"),
        ("confirmed", "delivered"),
    ]
    payment = payment_of(stack, number)
    assert (payment["status"], payment["paymentMethod"]) == ("confirmed", "test_confirm")


def test_scenario_declined_then_cancelled(stack):
    number = create_order(stack, method="test_decline")["orderNumber"]

    assert wait_for_state(stack, number, {"cancelled", "confirmed"}) == "cancelled"

    assert moves_of(stack, number) == [(None, "created"), ("created", "cancelled")]
    assert payment_of(stack, number)["status"] == "declined"


def test_scenario_retried_then_confirmed(stack):
    retries = orders_metric(stack, "orders_payments_retries_total", operation="payment")
    number = create_order(stack, method="test_unavailable_then_confirm")["orderNumber"]

    assert wait_for_state(stack, number, {"confirmed", "delivered", "cancelled"}) != "cancelled"

    # Payments said "unavailable" twice for this order: two retries, then one charge.
    assert orders_metric(stack, "orders_payments_retries_total", operation="payment") >= retries + 2
    assert payment_of(stack, number)["status"] == "confirmed"
    assert moves_of(stack, number)[:2] == [(None, "created"), ("created", "confirmed")]


def test_scenario_timed_out_then_confirmed_exactly_once(stack):
    number = create_order(stack, method="test_timeout_then_confirm")["orderNumber"]

    state = wait_for_state(stack, number, {"confirmed", "delivered", "cancelled"}, timeout=60)

    assert state != "cancelled"
    # Orders gave up on the first answer (a read timeout), asked again, and got the stored
    # payment: one payment, one confirmation.
    assert payment_of(stack, number)["status"] == "confirmed"
    assert moves_of(stack, number)[:2] == [(None, "created"), ("created", "confirmed")]
    assert (
        orders_metric(
            stack,
            "orders_payments_call_duration_seconds_count",
            operation="payment_batch",
            result="error",
        )
        >= 1
    )


def test_scenario_cash_on_delivery_cancelled_needs_no_refund(stack):
    number = create_order(stack, method="cash_on_delivery")["orderNumber"]
    assert wait_for_state(stack, number, {"confirmed", "delivered"}) == "confirmed"

    assert requests.put(f"{stack.orders_url}/order/cancel/{number}", timeout=5).status_code == 200

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        order = requests.get(f"{stack.orders_url}/order/{number}", timeout=5).json()
        if order["events"]:
            break
        time.sleep(0.2)
    [event] = order["events"]
    assert event["kind"] == "refund_not_needed", event
    assert payment_of(stack, number)["status"] == "confirmed"  # nothing was charged to give back


def test_scenario_unknown_payment_method_is_a_400_naming_it(stack):
    body = {"name": "Ada", "address": "1 Loop", "price": "1.00", "paymentMethod": "bitcoin"}
    response = requests.post(f"{stack.orders_url}/order", json=body, timeout=5)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["paymentMethod"]
    methods = requests.get(f"{stack.payments_url}/payment/methods", timeout=5).json()["results"]
    assert "test_timeout_then_confirm" in {method["name"] for method in methods}


def test_scenario_confirmed_order_can_be_cancelled_once(stack):
    number = create_order(stack, method="test_confirm")["orderNumber"]
    assert wait_for_state(stack, number, {"confirmed", "cancelled"}) == "confirmed"

    response = requests.put(f"{stack.orders_url}/order/cancel/{number}", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"

    again = requests.put(f"{stack.orders_url}/order/cancel/{number}/", timeout=5)
    assert again.status_code == 409
    assert again.json()["code"] == "illegal_transition"

    # The customer does not stay charged: Orders asks Payments for the refund, and records it
    # as an event of the order once Payments has answered. The two are seen one after the other
    # (Payments commits the refund before the worker records it), so wait for both.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        payments = all_pages(stack, f"{stack.payments_url}/payment/")
        (payment,) = [p for p in payments if p["orderNumber"] == number]
        order = requests.get(f"{stack.orders_url}/order/{number}", timeout=5).json()
        if payment["status"] == "refunded" and order["events"]:
            break
        time.sleep(0.2)
    assert payment["status"] == "refunded", payment
    [event] = order["events"]
    assert event["kind"] == "refunded", event
    assert event["transactionId"] == payment["transactionId"], (event, payment)
    # The history stays the path of states: the refund changed none.
    transitions = [(row["from"], row["to"]) for row in order["history"]]
    assert transitions == [(None, "created"), ("created", "confirmed"), ("confirmed", "cancelled")]
    # The delivery sweep must leave it alone.
    time.sleep(stack.delivery_delay + 2)
    assert (
        requests.get(f"{stack.orders_url}/order/status/{number}", timeout=5).json()["state"]
        == "cancelled"
    )


def test_scenario_listing_filters_and_unknown_orders(stack):
    number = create_order(stack)["orderNumber"]
    listed = requests.get(f"{stack.orders_url}/order/", timeout=5).json()["results"]
    assert listed[0]["orderNumber"] == number  # newest first

    cancelled = requests.get(f"{stack.orders_url}/order?state=cancelled", timeout=5).json()[
        "results"
    ]
    assert all(order["state"] == "cancelled" for order in cancelled)

    missing = requests.get(f"{stack.orders_url}/order/status/zzzzzzzz", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["code"] == "order_not_found"


def test_scenario_direct_payment_needs_the_token_and_is_idempotent(stack):
    body = {"name": "string", "address": "string", "price": 0, "orderNumber": "ub6323fp"}
    url = f"{stack.payments_url}/payment"

    assert requests.post(url, json=body, timeout=5).status_code == 401
    headers = {"Authorization": f"Bearer {stack.token}"}
    first = requests.post(url, json=body, headers=headers, timeout=5)
    assert first.status_code == 201, first.text
    replay = requests.post(url, json=body, headers=headers, timeout=5)
    assert replay.status_code == 200
    assert replay.json()["transactionId"] == first.json()["transactionId"]
    conflict = requests.post(url, json={**body, "price": 1}, headers=headers, timeout=5)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "payment_conflict"


def test_scenario_bad_input_is_a_json_400_naming_the_field(stack):
    response = requests.post(
        f"{stack.orders_url}/order", json={"name": "x", "address": "y", "price": -1}, timeout=5
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["price"]

    malformed = requests.post(
        f"{stack.orders_url}/order",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"
