"""Orders' HTTP API (orders/apis.py): create, list, status and cancel, their answers, every way a
create is refused (one JSON error shape, nothing written), hostile bodies, and what a request
answers when the broker or the database is down (a stored request still succeeds; a lost
database connection is a 503 to retry, not a 500)."""

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from common.errors import assert_error, post, raw_body
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from helpers import ORDER_FIELDS, ORDER_NUMBER_PATTERN, batch_echo, redrive, sent_numbers
from kombu.exceptions import OperationalError as BrokerOperationalError

from orders import refunds, selectors, services
from orders.apis import (
    OrderCollectionApi,
    OrderOutputSerializer,
    OrderStatusApi,
    order_representation,
)
from orders.models import Order, OrderState
from orders.tasks import charge_waiting_orders, refund_payment

pytestmark = pytest.mark.django_db

NEW_ORDER = {"name": "Ada Lovelace", "address": "12 Analytical Row", "price": "12.50"}


@pytest.mark.parametrize("path", ["/order", "/order/"])
def test_order_create_api_answers_201_with_the_new_order(api_client, path):
    response = api_client.post(path, NEW_ORDER, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == ORDER_FIELDS
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert body["price"] == "12.50"
    assert body["state"] == "created"
    assert (body["name"], body["address"]) == (NEW_ORDER["name"], NEW_ORDER["address"])
    datetime.fromisoformat(body["createdAt"])
    stored = Order.objects.get(number=body["orderNumber"])
    assert stored.price == Decimal("12.50")
    assert stored.history.count() == 1


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (0, "0.00"),
        ("12.50", "12.50"),
        (12.5, "12.50"),
        ("7", "7.00"),
        (9999999999.99, "9999999999.99"),
    ],
)
def test_order_create_api_accepts_numbers_and_decimal_strings(api_client, price, expected):
    response = api_client.post("/order", {**NEW_ORDER, "price": price}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["price"] == expected
    assert Order.objects.get().price == Decimal(expected)


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_order_create_api_accepts_text_up_to_the_length_limit(api_client, field, limit):
    response = api_client.post("/order", {**NEW_ORDER, field: "é" * limit}, format="json")

    assert response.status_code == 201
    assert getattr(Order.objects.get(), field) == "é" * limit


def test_order_create_api_ignores_fields_it_does_not_know(api_client):
    body = {**NEW_ORDER, "state": "delivered", "orderNumber": "aaaaaaaa"}

    response = api_client.post("/order", body, format="json")

    assert response.status_code == 201
    assert response.json()["state"] == "created"
    assert response.json()["orderNumber"] != "aaaaaaaa"
    assert Order.objects.get().state == "created"


def test_order_create_api_then_payment_confirms_the_order(
    api_client, django_capture_on_commit_callbacks, http, batch_url
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post("/order", NEW_ORDER, format="json")
    number = response.json()["orderNumber"]
    assert len(callbacks) == 1
    http.add_callback("POST", batch_url, callback=batch_echo())

    callbacks[0]()  # the wake-up: the charger runs (eagerly) and charges the order

    status = api_client.get(f"/order/status/{number}").json()
    assert status["state"] == "confirmed"
    assert [sent_numbers(call) for call in http.calls] == [[number]]


@pytest.mark.parametrize("suffix", ["", "/"])
def test_order_status_api_answers_number_state_and_update_time(api_client, make_order, suffix):
    order = make_order(state=OrderState.CONFIRMED)

    response = api_client.get(f"/order/status/{order.number}{suffix}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"orderNumber", "state", "updatedAt"}
    assert (body["orderNumber"], body["state"]) == (order.number, "confirmed")


@pytest.mark.parametrize("suffix", ["", "/"])
def test_order_detail_api_includes_the_history(api_client, make_order, suffix):
    order = make_order(state=OrderState.DELIVERED)

    response = api_client.get(f"/order/{order.number}{suffix}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ORDER_FIELDS | {"history", "events"}
    assert body["events"] == []  # nothing happened that changed no state
    assert body["state"] == "delivered"
    assert body["price"] == "12.50"
    assert [set(row) for row in body["history"]] == [{"from", "to", "at", "reason"}] * 3
    assert [(row["from"], row["to"]) for row in body["history"]] == [
        (None, "created"),
        ("created", "confirmed"),
        ("confirmed", "delivered"),
    ]
    assert body["history"][0]["reason"] == "order created"
    times = [datetime.fromisoformat(row["at"]) for row in body["history"]]
    assert times == sorted(times)


def test_order_detail_api_shows_a_late_result_and_its_refund_as_events(
    api_client, make_order, http, django_capture_on_commit_callbacks
):
    order = make_order()
    services.order_cancel(order_number=order.number)
    refund = {"orderNumber": order.number, "status": "refunded", "transactionId": "tx-refund"}
    http.add("POST", f"{settings.PAYMENTS_URL}/payment/{order.number}/refund", json=refund)
    with django_capture_on_commit_callbacks(execute=True):  # the refund task runs on commit
        services.order_apply_payment_result(
            order_number=order.number, payment_status="confirmed", transaction_id="tx-late"
        )

    body = api_client.get(f"/order/{order.number}").json()

    assert body["state"] == "cancelled"
    # The history is the path of states; what changed no state is an event.
    assert [(row["from"], row["to"]) for row in body["history"]] == [
        (None, "created"),
        ("created", "cancelled"),
    ]
    assert [set(event) for event in body["events"]] == [
        {"kind", "detail", "data", "transactionId", "actor", "at"}
    ] * 2
    assert [{k: v for k, v in e.items() if k != "at"} for e in body["events"]] == [
        {
            "kind": "payment_after_cancellation",
            "detail": "payment confirmed after cancellation",
            "data": {"outcome": "confirmed"},
            "transactionId": "tx-late",
            "actor": "payments",
        },
        {
            "kind": "refunded",
            "detail": "payment refunded",
            "data": {},
            "transactionId": "tx-refund",
            "actor": "payments",
        },
    ]
    times = [datetime.fromisoformat(event["at"]) for event in body["events"]]
    assert times == sorted(times)
    assert times[0] >= datetime.fromisoformat(body["history"][-1]["at"])


def test_order_detail_api_shows_an_event_without_a_transaction_id_as_empty(
    api_client, make_order, http
):
    order = make_order()
    services.order_cancel(order_number=order.number)  # a refund check is due, left for later
    url = f"{settings.PAYMENTS_URL}/payment/{order.number}/refund"
    http.add("POST", url, status=404, json={"code": "payment_not_found", "message": "none"})
    refunds.order_refund_payment(order_number=order.number)

    [event] = api_client.get(f"/order/{order.number}/").json()["events"]

    assert event["kind"] == "refund_not_needed"
    assert event["detail"] == "no refund needed: no payment was taken (payment_not_found)"
    assert event["transactionId"] == ""


@pytest.mark.parametrize("state", [OrderState.CREATED, OrderState.CONFIRMED])
@pytest.mark.parametrize("suffix", ["", "/"])
def test_order_cancel_api_cancels_created_and_confirmed_orders(
    api_client, make_order, state, suffix
):
    order = make_order(state=state)

    response = api_client.put(f"/order/cancel/{order.number}{suffix}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ORDER_FIELDS
    assert (body["orderNumber"], body["state"]) == (order.number, "cancelled")
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    assert order.history.filter(from_state=state, to_state="cancelled").count() == 1


@pytest.mark.parametrize("state", [OrderState.DELIVERED, OrderState.CANCELLED])
def test_order_cancel_api_answers_409_for_a_final_state(api_client, make_order, state):
    order = make_order(state=state)
    rows_before = order.history.count()

    response = api_client.put(f"/order/cancel/{order.number}")

    body = assert_error(response, 409, "illegal_transition")
    assert order.number in body["message"]
    assert Order.objects.get(pk=order.pk).state == state
    assert order.history.count() == rows_before


@pytest.mark.parametrize("suffix", ["", "/"])
def test_order_list_api_pages_newest_first_with_a_next_link(api_client, make_order, suffix):
    numbers = [make_order().number for _ in range(5)]

    first = api_client.get(f"/order{suffix}", {"pageSize": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert [row["orderNumber"] for row in first["results"]] == numbers[::-1][:2]
    assert first["next"]

    seen = [row["orderNumber"] for row in first["results"]]
    page = first
    while page["next"]:
        page = api_client.get(page["next"]).json()
        seen += [row["orderNumber"] for row in page["results"]]
    assert seen == numbers[::-1]
    assert page["next"] is None


def test_order_list_api_filters_by_state_across_pages(api_client, make_order):
    confirmed = [make_order(state=OrderState.CONFIRMED).number for _ in range(3)]
    make_order()
    make_order(state=OrderState.CANCELLED)

    first = api_client.get("/order/", {"state": "confirmed", "pageSize": 2}).json()
    assert "state=confirmed" in first["next"]
    second = api_client.get(first["next"]).json()

    listed = [row["orderNumber"] for row in first["results"] + second["results"]]
    assert listed == confirmed[::-1]
    assert {row["state"] for row in first["results"] + second["results"]} == {"confirmed"}
    assert second["next"] is None


def test_order_list_api_without_orders_is_an_empty_page(api_client):
    response = api_client.get("/order")

    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_order_list_api_rejects_an_unknown_state(api_client):
    response = api_client.get("/order", {"state": "shipped"})

    assert_error(response, 400, "invalid", fields=("state",))


def test_order_list_api_rejects_a_forged_cursor(api_client, make_order):
    make_order()

    response = api_client.get("/order", {"cursor": "not-a-cursor"})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/order/status/zzzzzzzz"),
        ("get", "/order/zzzzzzzz"),
        ("get", "/order/zzzzzzzz/"),
        ("put", "/order/cancel/zzzzzzzz"),
        ("put", "/order/cancel/zzzzzzzz/"),
    ],
)
def test_order_apis_answer_404_json_for_an_unknown_order(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert_error(response, 404, "order_not_found")


@pytest.mark.parametrize("path", ["/nowhere", "/order/a/b/c", "/orders"])
def test_unknown_url_answers_404_json(api_client, path):
    response = api_client.get(path)

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", "/order"), ("post", "/order/status/abcdefgh"), ("get", "/order/cancel/abcdefgh")],
)
def test_order_apis_answer_405_json_for_a_wrong_method(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("state", list(OrderState))
def test_order_representation_is_what_the_documented_serializer_renders(make_order, state):
    """The API answers with order_representation; the schema documents OrderOutputSerializer."""
    fresh = make_order(state=state, price=Decimal("7.5"))  # as the service returns it
    for order in (fresh, Order.objects.get(pk=fresh.pk)):  # and as read from the database
        assert order_representation(order) == dict(OrderOutputSerializer(order).data)


def test_order_status_is_what_the_documented_serializer_renders(api_client, make_order):
    order = make_order(state=OrderState.CONFIRMED)
    response = api_client.get(f"/order/status/{order.number}")
    assert response.json() == dict(OrderStatusApi.OutputSerializer(order).data)


def test_order_create_api_stores_and_shows_the_payment_method(api_client):
    body = {"name": "Ada", "address": "1 Loop Road", "price": "1.00"}
    response = api_client.post("/order", {**body, "paymentMethod": "test_decline"}, format="json")
    default = api_client.post("/order", body, format="json")

    assert response.status_code == 201
    assert response.json()["paymentMethod"] == "test_decline"
    assert Order.objects.get(number=response.json()["orderNumber"]).payment_method == "test_decline"
    assert default.json()["paymentMethod"] == "card"
    detail = api_client.get(f"/order/{response.json()['orderNumber']}").json()
    assert detail["paymentMethod"] == "test_decline"
    listed = api_client.get("/order/").json()["results"]
    assert {order["paymentMethod"] for order in listed} == {"card", "test_decline"}


def test_order_create_api_unknown_method_is_a_400_listing_the_enabled(api_client, settings):
    settings.ORDERS_PAYMENT_METHODS = ["card", "cash_on_delivery"]
    body = {
        "name": "Ada",
        "address": "1 Loop Road",
        "price": "1.00",
        "paymentMethod": "test_confirm",
    }

    response = api_client.post("/order", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["paymentMethod"]
    assert "enabled: card, cash_on_delivery." in response.json()["errors"]["paymentMethod"][0]
    assert not Order.objects.exists()


def test_orders_settings_production_has_no_test_methods(monkeypatch, tmp_path):
    import runpy

    import config.settings

    monkeypatch.setenv("ORDERS_VAR_DIR", str(tmp_path))
    for name, value in {"DJANGO_ENV": "production", "ORDERS_SECRET_KEY": "s"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAYMENTS_API_TOKEN", "t")
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    loaded = runpy.run_path(config.settings.__file__)
    assert loaded["ORDERS_PAYMENT_METHODS"] == ["card", "cash_on_delivery"]


# --- the plain POST outside DRF's request cycle (servicekit/fast_post.py) ---------------------


def _created_orders_answer(response) -> tuple[int, bytes, dict]:
    """The answer with what differs from order to order (its number, its times) masked: the
    status, the body's bytes and every header but the request id."""
    body = response.json()
    content = response.content
    for varying in ("orderNumber", "createdAt", "updatedAt"):
        content = content.replace(body[varying].encode(), b"<" + varying.encode() + b">")
    headers = {name: value for name, value in response.items() if name != "X-Request-ID"}
    return response.status_code, content, headers


def test_order_create_api_answers_a_plain_post_as_drf_would(api_client, monkeypatch):
    drf_post = OrderCollectionApi.post
    calls = []
    monkeypatch.setattr(OrderCollectionApi, "post", lambda *a: calls.append(a) or drf_post(*a))

    plain = api_client.post("/order", NEW_ORDER, format="json")
    # An Accept header with a parameter is DRF's content negotiation to judge.
    through_drf = api_client.post(
        "/order", NEW_ORDER, format="json", HTTP_ACCEPT="application/json; q=1"
    )

    assert len(calls) == 1  # the second one only
    assert _created_orders_answer(plain) == _created_orders_answer(through_drf)
    assert Order.objects.count() == 2


def test_order_create_api_sends_a_post_with_an_idempotency_key_through_drf(api_client, monkeypatch):
    drf_post = OrderCollectionApi.post
    calls = []
    monkeypatch.setattr(OrderCollectionApi, "post", lambda *a: calls.append(a) or drf_post(*a))

    response = api_client.post("/order", NEW_ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response  # the first answer for this key
    assert len(calls) == 1


def test_order_create_api_answers_a_database_that_went_away_with_a_503(api_client, monkeypatch):
    def unavailable(**fields):
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr(services, "order_create", unavailable)

    response = api_client.post("/order", NEW_ORDER, format="json")

    body = assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"
    assert body["errors"] == {}


# --- hostile bodies: what only an order has (the shared checks: tests/contract/test_abuse.py) ---


@pytest.mark.parametrize("literal", ["-0", "-0.0", "-0e5", "-0.000"])
def test_order_create_api_creates_one_with_negative_zero_as_zero(api_client, service, literal):
    # Found by the fuzz test: -0 passes min_value=0 and was echoed and stored as "-0.00". As a
    # JSON number it is 0 (the schema's minimum is 0); the string "-0" has a sign its pattern
    # refuses (tests/contract/test_prices.py).
    response = post(api_client, service, raw_body(service.valid_body, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == "0.00"
    assert str(Order.objects.get().price) == "0.00"


def test_order_create_api_creates_one_ignoring_unknown_fields(api_client, service):
    forged = {"state": "delivered", "orderNumber": "aaaaaaaa", "history": [], "note\x00": "\ud800"}

    response = post(api_client, service, json.dumps({**service.valid_body, **forged}))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "created"
    assert body["orderNumber"] != "aaaaaaaa"
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert "history" not in body
    assert Order.objects.get().state == "created"


# --- the broker or the database down at request time -------------------------------------------


class Broker:
    """The broker as the tasks' publish sees it: refusing while `down`."""

    down = True


@pytest.fixture
def broker(monkeypatch) -> Broker:
    state = Broker()
    for task in (charge_waiting_orders, refund_payment):

        def publish(*args, _real=task.apply_async, **kwargs):
            if state.down:
                raise BrokerOperationalError(
                    "Error 111 connecting to 127.0.0.1:6379. Connection refused."
                )
            return _real(*args, **kwargs)

        monkeypatch.setattr(task, "apply_async", publish)
    return state


def test_order_create_api_answers_201_when_the_charger_cannot_be_woken(
    api_client, broker, http, batch_url, django_capture_on_commit_callbacks
):
    http.add_callback("POST", batch_url, callback=batch_echo())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post(
            "/order", {"name": "Ada", "address": "1 Loop Road", "price": "3.00"}, format="json"
        )

    assert response.status_code == 201, response.content
    assert len(callbacks) == 1  # the wake-up was attempted, and failed
    order = Order.objects.get(number=response.json()["orderNumber"])
    assert order.state == OrderState.CREATED  # waiting for the re-drive sweep
    assert len(http.calls) == 0

    # The broker is back; the re-drive finds the order waiting and wakes the charger for it.
    broker.down = False
    Order.objects.filter(pk=order.pk).update(
        payment_requested_at=timezone.now() - timedelta(seconds=3)
    )
    assert redrive(django_capture_on_commit_callbacks) == 1

    assert [sent_numbers(call) for call in http.calls] == [[order.number]]
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED


@pytest.mark.usefixtures("broker")
def test_order_cancel_api_answers_200_when_the_refund_cannot_be_queued(
    api_client, make_order, django_capture_on_commit_callbacks
):
    order = make_order(state=OrderState.CONFIRMED)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.put(f"/order/cancel/{order.number}")

    assert response.status_code == 200, response.content
    assert len(callbacks) == 1
    cancelled = Order.objects.get(pk=order.pk)
    assert cancelled.state == OrderState.CANCELLED
    assert cancelled.refund_queued_at is not None  # still due: the re-drive will send it


def test_order_status_api_answers_503_when_the_database_connection_is_lost(api_client, monkeypatch):
    def connection_lost(**kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(selectors, "order_get", connection_lost)

    response = api_client.get("/order/status/abcd1234")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "code": "service_unavailable",
        "message": "The service is briefly unavailable; retry shortly.",
        "errors": {},
    }


# --- every way POST /order is refused, in the one error shape; it writes nothing ---------------


@pytest.fixture
def no_order_is_written():
    """A refused request writes nothing."""
    yield
    assert not Order.objects.exists()


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("missing", ["name", "address", "price"])
def test_order_create_api_reports_a_missing_field(api_client, missing):
    body = {key: value for key, value in NEW_ORDER.items() if key != missing}

    response = api_client.post("/order", body, format="json")

    errors = assert_error(response, 400, "invalid", fields=(missing,))["errors"]
    assert errors[missing] == ["This field is required."]


@pytest.mark.usefixtures("no_order_is_written")
def test_order_create_api_reports_every_missing_field_of_an_empty_object(api_client):
    response = api_client.post("/order/", {}, format="json")

    assert_error(response, 400, "invalid", fields=("name", "address", "price"))


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "twelve"),
        ("price", True),
        ("price", [12]),
        ("price", {"amount": 12}),
        ("price", None),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("name", ["Ada"]),
        ("name", {"first": "Ada"}),
        ("name", True),
        ("name", None),
        ("address", ["12 Analytical Row"]),
    ],
)
def test_order_create_api_reports_a_wrong_type(api_client, field, value):
    response = api_client.post("/order", {**NEW_ORDER, field: value}, format="json")

    assert_error(response, 400, "invalid", fields=(field,))


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("price", [-0.01, -1, -100])
def test_order_create_api_refuses_a_negative_price(api_client, price):
    response = api_client.post("/order", {**NEW_ORDER, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "greater than or equal to 0" in errors["price"][0]


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("price", ["-0.01", "-100", "-0", "+1", " 1", "1_000", "\u0661\u0662"])
def test_order_create_api_refuses_a_price_string_with_a_sign_space_or_other_digits(
    api_client, price
):
    # Decimal() takes all of these; the schema's pattern (ASCII digits only) does not.
    response = api_client.post("/order", {**NEW_ORDER, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "ASCII digits" in errors["price"][0]


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("price", ["12.505", 0.001, "1.000", 1.001])
def test_order_create_api_refuses_more_than_two_decimal_places(api_client, price):
    response = api_client.post("/order", {**NEW_ORDER, "price": price}, format="json")

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "2 decimal places" in errors["price"][0]


@pytest.mark.usefixtures("no_order_is_written")
def test_order_create_api_refuses_a_price_with_too_many_digits(api_client):
    response = api_client.post("/order", {**NEW_ORDER, "price": "12345678901.00"}, format="json")

    assert_error(response, 400, "invalid", fields=("price",))


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_order_create_api_refuses_a_value_that_is_too_long(api_client, field, limit):
    response = api_client.post("/order", {**NEW_ORDER, field: "x" * (limit + 1)}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert str(limit) in errors[field][0]


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("address", 500)])
def test_order_create_api_counts_the_length_before_trimming(api_client, field, limit):
    # The schema's maxLength counts what was sent: a space more is too long, trimmed or not.
    response = api_client.post("/order", {**NEW_ORDER, field: " " + "x" * limit}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert str(limit) in errors[field][0]


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize("field", ["name", "address"])
def test_order_create_api_refuses_an_empty_text(api_client, field, blank):
    response = api_client.post("/order", {**NEW_ORDER, field: blank}, format="json")

    errors = assert_error(response, 400, "invalid", fields=(field,))["errors"]
    assert errors[field] == ["This field may not be blank."]


@pytest.mark.usefixtures("no_order_is_written")
def test_order_create_api_refuses_a_null_character(api_client):
    # PostgreSQL cannot store NUL in text: it must be refused before it reaches the database.
    response = api_client.post("/order", {**NEW_ORDER, "name": "Ada\x00"}, format="json")

    assert_error(response, 400, "invalid", fields=("name",))


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize(
    "raw", ['{"name": "Ada",', "{'name': 'Ada'}", "not json", '{"price": NaN}']
)
def test_order_create_api_refuses_malformed_json(api_client, raw):
    response = api_client.post("/order", raw, content_type="application/json")

    assert_error(response, 400, "parse_error")


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize("raw", ["[]", '[{"name": "Ada"}]', '"Ada"', "12", "null"])
def test_order_create_api_refuses_json_that_is_not_an_object(api_client, raw):
    response = api_client.post("/order", raw, content_type="application/json")

    errors = assert_error(response, 400, "invalid", fields=("nonFieldErrors",))["errors"]
    assert errors["nonFieldErrors"]


@pytest.mark.usefixtures("no_order_is_written")
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", '{"name": "Ada", "address": "x", "price": "1"}'),
        ("application/x-www-form-urlencoded", "name=Ada&address=x&price=1"),
        ("application/xml", "<order/>"),
    ],
)
def test_order_create_api_refuses_a_content_type_other_than_json(api_client, content_type, raw):
    response = api_client.post("/order", raw, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.usefixtures("no_order_is_written")
def test_order_create_api_refuses_a_multipart_form(client):
    response = client.post("/order", NEW_ORDER)  # Django's test client sends multipart by default

    assert_error(response, 415, "unsupported_media_type")
