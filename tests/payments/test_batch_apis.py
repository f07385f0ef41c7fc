"""POST /payment/batch: many payments in one call, each answered in its place exactly as
POST /payment would answer it, stored with one INSERT and one read."""

import json
import logging
from decimal import Decimal

import pytest
from common.errors import assert_error, assert_error_shape, raw_body
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from helpers import PAYMENT_FIELDS, at_once, load_settings
from prometheus_client import REGISTRY

from payments import services
from payments.apis import payment_output
from payments.models import Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(order_number):
    """A factory of valid batch items, each for a new order unless given a number."""

    def make(price="10.50", number=None, **fields):
        return {
            "orderNumber": number or order_number(),
            "name": "Ada Lovelace",
            "address": "12 Analytical St, London",
            "price": price,
            **fields,
        }

    return make


def post_batch(client, items, path="/payment/batch"):
    return client.post(path, {"payments": items}, format="json")


def results_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results"}
    return body["results"]


def assert_item_error(result: dict, code: str, fields: tuple[str, ...] | None, number) -> dict:
    """An item's error entry: its orderNumber, and an error in the one shape naming `fields`
    (None: any, but at least one)."""
    assert set(result) == {"orderNumber", "error"}, result
    assert result["orderNumber"] == number
    assert_error_shape(result["error"])
    assert result["error"]["code"] == code
    if fields is None:
        assert result["error"]["errors"]
    else:
        assert set(result["error"]["errors"]) == set(fields)
    return result["error"]


def payments_total(status: str) -> float:
    return REGISTRY.get_sample_value("payments_total", {"status": status}) or 0.0


# --- the answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/payment/batch", "/payment/batch/"])
def test_payment_batch_stores_every_new_payment(auth_client, item, confirm_always, path):
    items = [item(price="10.50"), item(price="0.5"), item(price=7)]

    results = results_of(post_batch(auth_client, items, path))

    assert [result["orderNumber"] for result in results] == [i["orderNumber"] for i in items]
    assert all(set(result) == PAYMENT_FIELDS | {"replayed"} for result in results)
    assert [result["replayed"] for result in results] == [False] * 3
    assert [result["price"] for result in results] == ["10.50", "0.50", "7.00"]
    assert {result["status"] for result in results} == {"confirmed"}
    stored = {p.order_number: p for p in Payment.objects.all()}
    assert len(stored) == 3
    for result in results:
        payment = stored[result["orderNumber"]]
        # Exactly what POST /payment and GET /payment show for the stored row.
        assert {**payment_output(payment), "replayed": False} == result
    assert [stored[i["orderNumber"]].amount for i in items] == [
        Decimal("10.50"),
        Decimal("0.50"),
        Decimal("7.00"),
    ]


def test_payment_batch_stores_the_status_each_answer_gives(auth_client, item, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.5

    results = results_of(post_batch(auth_client, [item() for _ in range(40)]))

    stored = dict(Payment.objects.values_list("order_number", "status"))
    assert {result["orderNumber"]: result["status"] for result in results} == stored
    assert set(stored.values()) == {"confirmed", "declined"}  # 2**-39 to fail by chance


def test_payment_batch_keeps_the_position_of_each_kind_of_answer(
    auth_client, item, make_payment, decline_always
):
    paid = make_payment(amount="5.00")
    other = make_payment(amount="8.00")
    items = [
        item(price="1.00"),  # new
        item(price="5", number=paid.order_number),  # replay, the price written differently
        item(price="9.99", number=other.order_number),  # another price: a conflict
        item(number="NOT-VALID"),  # invalid
        item(price="2.00"),  # new
    ]

    results = results_of(post_batch(auth_client, items))

    assert len(results) == 5
    assert (results[0]["orderNumber"], results[0]["replayed"]) == (items[0]["orderNumber"], False)
    assert results[0]["status"] == "declined"
    assert {**payment_output(paid), "replayed": True} == results[1]
    conflict = assert_item_error(results[2], "payment_conflict", ("price",), other.order_number)
    assert conflict["errors"]["price"] == [
        f"Order {other.order_number} was already paid with 8.00."
    ]
    assert_item_error(results[3], "invalid", ("orderNumber",), "NOT-VALID")
    assert (results[4]["orderNumber"], results[4]["replayed"]) == (items[4]["orderNumber"], False)
    assert Payment.objects.count() == 4
    assert Payment.objects.get(order_number=other.order_number).amount == Decimal("8.00")


def test_payment_batch_conflict_answers_as_the_single_endpoint_does(auth_client, payload):
    assert auth_client.post("/payment", payload, format="json").status_code == 201
    conflicting = {**payload, "price": "99.00"}
    single = auth_client.post("/payment", conflicting, format="json")

    results = results_of(post_batch(auth_client, [conflicting]))

    assert single.status_code == 409
    error = assert_item_error(results[0], "payment_conflict", ("price",), payload["orderNumber"])
    assert error == single.json()


@pytest.mark.parametrize("value", [None, [], "text", 12, {"orderNumber": 12345678}])
def test_payment_batch_item_that_is_not_a_payment_is_an_item_error(auth_client, item, value):
    results = results_of(post_batch(auth_client, [value, item()]))

    assert_item_error(results[0], "invalid", None, None)  # nonFieldErrors, or the fields
    assert results[1]["replayed"] is False
    assert Payment.objects.count() == 1


def test_payment_batch_item_error_echoes_a_string_order_number_only(auth_client, item):
    items = [item(number="x" * 50), {**item(), "orderNumber": ""}, {"orderNumber": ["abcd1234"]}]

    results = results_of(post_batch(auth_client, items))

    assert [result["orderNumber"] for result in results] == ["x" * 50, "", None]
    assert all(result["error"]["code"] == "invalid" for result in results)


# --- the same order number twice ----------------------------------------------------------------


def test_payment_batch_same_order_twice_stores_once_and_replays(auth_client, item, monkeypatch):
    decisions = []
    real_decide = services.payment_decide
    monkeypatch.setattr(
        services, "payment_decide", lambda **kw: decisions.append(1) or real_decide(**kw)
    )
    first = item(price="3.00")
    items = [first, item(), {**first, "price": "3"}, dict(first)]

    results = results_of(post_batch(auth_client, items))

    assert [result["replayed"] for result in results] == [False, False, True, True]
    assert results[2] == results[3] == {**results[0], "replayed": True}
    assert Payment.objects.filter(order_number=first["orderNumber"]).count() == 1
    assert len(decisions) == 2  # one decision per new order, none for the duplicates


def test_payment_batch_same_order_with_another_price_is_a_conflict(auth_client, item):
    first = item(price="3.00")

    results = results_of(post_batch(auth_client, [first, {**first, "price": "4.00"}]))

    assert results[0]["replayed"] is False
    assert_item_error(results[1], "payment_conflict", ("price",), first["orderNumber"])
    assert Payment.objects.get(order_number=first["orderNumber"]).amount == Decimal("3.00")


def test_payment_batch_duplicates_are_answered_against_the_stored_payment(
    auth_client, item, make_payment
):
    paid = make_payment(amount="5.00")
    wrong, right = item(price="6.00", number=paid.order_number), item(number=paid.order_number)
    right["price"] = "5.00"

    results = results_of(post_batch(auth_client, [wrong, right]))

    assert_item_error(results[0], "payment_conflict", ("price",), paid.order_number)
    assert results[1] == {**payment_output(paid), "replayed": True}


def test_payment_batch_first_valid_item_of_an_order_decides(auth_client, item):
    number = item()["orderNumber"]
    items = [item(number=number, price="-1"), item(number=number, price="2.00")]

    results = results_of(post_batch(auth_client, items))

    assert_item_error(results[0], "invalid", ("price",), number)
    assert results[1]["replayed"] is False
    assert Payment.objects.get(order_number=number).amount == Decimal("2.00")


# --- replays across the two endpoints -----------------------------------------------------------


def test_payment_batch_replays_a_payment_made_by_post_payment(auth_client, payload, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    single = auth_client.post("/payment", payload, format="json")
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0  # a fresh decision would now decline

    results = results_of(post_batch(auth_client, [payload]))

    assert single.status_code == 201
    assert results[0] == {**single.json(), "replayed": True}
    assert Payment.objects.count() == 1


def test_payment_post_replays_a_payment_made_by_the_batch(auth_client, payload, settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0
    (stored,) = results_of(post_batch(auth_client, [payload]))
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0

    single = auth_client.post("/payment", payload, format="json")
    conflict = auth_client.post("/payment", {**payload, "price": "1.00"}, format="json")

    assert single.status_code == 200
    assert {**single.json(), "replayed": False} == stored
    assert single.json()["status"] == "declined"
    assert_error(conflict, 409, "payment_conflict", ("price",))
    assert Payment.objects.count() == 1


def test_payment_batch_again_answers_the_same_and_stores_nothing(auth_client, item):
    items = [item(), item(), item(number="bad")]
    first = results_of(post_batch(auth_client, items))

    again = results_of(post_batch(auth_client, items))

    assert [result.get("replayed") for result in again] == [True, True, None]
    assert again[:2] == [{**result, "replayed": True} for result in first[:2]]
    assert again[2] == first[2]
    assert Payment.objects.count() == 2


# --- validation, exactly as POST /payment's -----------------------------------------------------

REFUSED = [
    {"price": '"-1"'},
    {"price": '"1.234"'},
    {"price": "1e400"},
    {"price": '"abc"'},
    {"price": "true"},
    {"price": "null"},
    {"orderNumber": '"ABCDEFGH"'},
    {"orderNumber": '"abc"'},
    {"orderNumber": "12345678"},
    {"name": '""'},
    {"name": '"   "'},
    {"name": json.dumps("x" * 201)},
    {"address": '"a\\u0000b"'},
    {"address": "1.5"},
]


@pytest.mark.parametrize(
    "raw", REFUSED, ids=lambda raw: "-".join(f"{k}={v}" for k, v in raw.items())
)
def test_payment_batch_refuses_an_item_exactly_as_post_payment(auth_client, payload, raw):
    single = auth_client.post("/payment", raw_body(payload, **raw), content_type="application/json")
    batch = auth_client.post(
        "/payment/batch",
        '{"payments": [' + raw_body(payload, **raw) + "]}",
        content_type="application/json",
    )

    expected = assert_error(single, 400, "invalid", tuple(raw))
    sent = json.loads(raw_body(payload, **raw))["orderNumber"]
    number = sent if isinstance(sent, str) else None
    error = assert_item_error(results_of(batch)[0], "invalid", tuple(raw), number)
    assert error["errors"] == expected["errors"]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("field", ["orderNumber", "name", "address", "price"])
def test_payment_batch_names_a_missing_field_as_post_payment(auth_client, payload, field):
    del payload[field]
    single = auth_client.post("/payment", payload, format="json")

    (result,) = results_of(post_batch(auth_client, [payload]))

    assert result["error"]["errors"] == assert_error(single, 400, "invalid", (field,))["errors"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ({"price": "-0"}, {"price": "0.00"}),
        ({"price": "12.500"}, {"price": "12.50"}),
        ({"price": "0.10"}, {"price": "0.10"}),
        ({"name": '"  Ada  "'}, {"name": "Ada"}),
        ({"forged": '"status"'}, {}),
    ],
)
def test_payment_batch_accepts_an_item_exactly_as_post_payment(
    auth_client, payload, order_number, raw, shown
):
    single = auth_client.post("/payment", raw_body(payload, **raw), content_type="application/json")
    payload["orderNumber"] = order_number()
    batch = auth_client.post(
        "/payment/batch",
        '{"payments": [' + raw_body(payload, **raw) + "]}",
        content_type="application/json",
    )

    (result,) = results_of(batch)
    assert single.status_code == 201, single.content
    for name, value in shown.items():
        assert single.json()[name] == result[name] == value
    assert "forged" not in result
    assert Payment.objects.count() == 2


# --- the envelope -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["[]", "null", "3", '"payments"', "{}", '{"payments": null}', '{"payments": {}}'],
)
def test_payment_batch_refuses_a_malformed_envelope_naming_payments(auth_client, body):
    response = auth_client.post("/payment/batch", body, content_type="application/json")

    assert_error(response, 400, "invalid", ("payments",))
    assert not Payment.objects.exists()


@pytest.mark.parametrize("payments", ['"abcd1234"', "[]", "{}", "7"])
def test_payment_batch_refuses_payments_that_are_not_a_non_empty_list(auth_client, payments):
    body = '{"payments": ' + payments + "}"

    response = auth_client.post("/payment/batch", body, content_type="application/json")

    assert_error(response, 400, "invalid", ("payments",))


def test_payment_batch_without_a_body_names_payments(auth_client):
    assert_error(auth_client.post("/payment/batch"), 400, "invalid", ("payments",))


def test_payment_batch_refuses_more_items_than_the_limit_naming_it(auth_client, item, settings):
    settings.PAYMENTS_BATCH_MAX_ITEMS = 3

    response = post_batch(auth_client, [item() for _ in range(4)])

    error = assert_error(response, 400, "invalid", ("payments",))
    assert "at most 3 payments" in error["message"]
    assert "at most 3 payments" in error["errors"]["payments"][0]
    assert not Payment.objects.exists()


def test_payment_batch_takes_as_many_items_as_the_limit(auth_client, item, settings):
    settings.PAYMENTS_BATCH_MAX_ITEMS = 3

    assert len(results_of(post_batch(auth_client, [item() for _ in range(3)]))) == 3


def test_payment_batch_refuses_a_default_limit_plus_one(auth_client, item, settings):
    assert settings.PAYMENTS_BATCH_MAX_ITEMS == 500
    items = [{}] * 501  # refused before any item is looked at

    error = assert_error(post_batch(auth_client, items), 400, "invalid", ("payments",))

    assert "500" in error["message"]


def test_payment_batch_refuses_a_body_that_is_not_json(auth_client):
    response = auth_client.post("/payment/batch", "payments=1", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", ['{"payments": [', '{"payments": [NaN]}', "[" * 40 + "]" * 40])
def test_payment_batch_refuses_malformed_json(auth_client, body):
    response = auth_client.post("/payment/batch", body, content_type="application/json")

    assert_error(response, 400, "parse_error")


# --- the token ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "not_authenticated"),
        ("Bearer wrong-token", "authentication_failed"),
        ("Basic abc", "authentication_failed"),
    ],
)
def test_payment_batch_needs_the_token(api_client, item, header, code):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)

    response = post_batch(api_client, [item()])

    assert_error(response, 401, code)
    assert response["WWW-Authenticate"] == "Bearer"
    assert not Payment.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_payment_batch_other_methods_are_a_json_405(auth_client, method):
    response = getattr(auth_client, method)("/payment/batch", {}, format="json")

    assert_error(response, 405, "method_not_allowed")


def test_payment_batch_route_leaves_the_refund_route_alone(auth_client):
    # "batch" is no order number (8 letters or digits): no route, not the batch route either.
    assert_error(auth_client.post("/payment/batch/refund"), 404, "not_found")


# --- storage: one INSERT, one read --------------------------------------------------------------


def statements(queries) -> list[str]:
    return [query["sql"].split()[0].upper() for query in queries]


def test_payment_batch_stores_new_payments_with_one_statement(auth_client, item):
    items = [item() for _ in range(100)]

    with CaptureQueriesContext(connection) as queries:
        results = results_of(post_batch(auth_client, items))

    assert statements(queries) == ["INSERT"]
    assert Payment.objects.count() == 100
    assert not any(result["replayed"] for result in results)


def test_payment_batch_reads_replays_and_conflicts_with_one_query(auth_client, item, make_payment):
    paid = [make_payment(amount="5.00") for _ in range(3)]
    items = [item(), *(item(price="5.00", number=p.order_number) for p in paid[:2])]
    items.append(item(price="1.00", number=paid[2].order_number))

    with CaptureQueriesContext(connection) as queries:
        results = results_of(post_batch(auth_client, items))

    assert statements(queries) == ["INSERT", "SELECT"]
    assert [result.get("replayed") for result in results] == [False, True, True, None]


def test_payment_batch_over_the_parameter_limit_is_split_into_statements(
    auth_client, item, settings
):
    # 9 values a row: 32766 parameters hold 3640 rows, so 3700 new payments take two INSERTs.
    settings.PAYMENTS_BATCH_MAX_ITEMS = 3700
    items = [item() for _ in range(3700)]

    with CaptureQueriesContext(connection) as queries:
        results = results_of(post_batch(auth_client, items))

    assert statements(queries) == ["INSERT", "INSERT"]
    assert [result["orderNumber"] for result in results] == [i["orderNumber"] for i in items]
    assert Payment.objects.count() == 3700
    assert not any(result["replayed"] for result in results)


def test_payment_batch_counts_each_stored_payment_once(auth_client, item, make_payment, settings):
    paid = make_payment()
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    before = payments_total("confirmed"), payments_total("declined")
    repeated = item()
    items = [item(), repeated, repeated, item(number=paid.order_number, price="10.00"), {}]

    results_of(post_batch(auth_client, items))

    assert (payments_total("confirmed"), payments_total("declined")) == (before[0] + 2, before[1])


def test_payment_batch_logs_one_line_per_batch(auth_client, item, make_payment, caplog):
    paid = make_payment(amount="5.00")
    items = [item(), item(number=paid.order_number, price="5.00"), item(price="-1"), {}]
    items.append(item(number=paid.order_number, price="6.00"))

    with caplog.at_level(logging.INFO, logger="payments.services"):
        caplog.clear()
        results_of(post_batch(auth_client, items))

    lines = [r.getMessage() for r in caplog.records if r.name == "payments.services"]
    assert lines == ["payment batch of 5: 1 stored, 1 replayed, 3 errors"]


# --- the body limit -----------------------------------------------------------------------------

SINGLE_LIMIT = 64 * 1024
BATCH_LIMIT = 4 * 1024 * 1024


def test_settings_default_batch_limits(settings):
    assert settings.PAYMENTS_BATCH_MAX_ITEMS == 500
    assert settings.PAYMENTS_BATCH_MAX_BODY_BYTES == BATCH_LIMIT
    # Every other route, and Django's own cap on request.body, keep 64 KiB.
    assert settings.API_MAX_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == SINGLE_LIMIT


def test_settings_read_the_batch_limits_from_the_environment(monkeypatch, tmp_path):
    env = {"PAYMENTS_BATCH_MAX_ITEMS": "100", "PAYMENTS_BATCH_MAX_BODY_BYTES": "1000000"}

    loaded = load_settings(monkeypatch, tmp_path, **env)

    assert (loaded["PAYMENTS_BATCH_MAX_ITEMS"], loaded["PAYMENTS_BATCH_MAX_BODY_BYTES"]) == (
        100,
        1_000_000,
    )
    assert loaded["DATA_UPLOAD_MAX_MEMORY_SIZE"] == SINGLE_LIMIT


@pytest.mark.parametrize("name", ["PAYMENTS_BATCH_MAX_ITEMS", "PAYMENTS_BATCH_MAX_BODY_BYTES"])
@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_settings_refuse_a_batch_limit_that_is_not_a_positive_integer(
    monkeypatch, tmp_path, name, value
):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, tmp_path, **{name: value})


def test_payment_batch_takes_500_longest_payments_escaped(auth_client, item):
    # The largest batch the item limits allow: names and addresses at their longest, in
    # characters that JSON escapes as \uXXXX (six bytes each).
    items = [item(name="é" * 200, address="ü" * 500) for _ in range(500)]
    body = json.dumps({"payments": items})  # ensure_ascii: every é a \u00e9
    assert 2_000_000 < len(body) < BATCH_LIMIT

    results = results_of(auth_client.post("/payment/batch", body, content_type="application/json"))

    assert len(results) == 500
    assert not any(result["replayed"] for result in results)
    assert Payment.objects.filter(name="é" * 200, address="ü" * 500).count() == 500


def test_payment_batch_refuses_a_body_over_its_limit_with_413(auth_client, item):
    body = json.dumps({"payments": [item()], "padding": "x" * BATCH_LIMIT})

    error = assert_error(
        auth_client.post("/payment/batch", body, content_type="application/json"),
        413,
        "request_too_large",
    )

    assert str(BATCH_LIMIT) in error["message"]
    assert not Payment.objects.exists()


def test_payment_batch_reads_its_body_limit_from_settings(auth_client, item, settings):
    settings.PAYMENTS_BATCH_MAX_BODY_BYTES = 100  # under API_MAX_BODY_BYTES: the parser refuses

    response = post_batch(auth_client, [item(), item()])

    error = assert_error(response, 413, "request_too_large")
    assert "100 bytes" in error["message"]
    assert not Payment.objects.exists()


def test_payment_batch_limit_is_its_own_and_no_other_routes(auth_client, item, settings):
    settings.API_MAX_BODY_BYTES = 100
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    payment = item()
    padded = {**payment, "padding": "x" * 200}

    batch = post_batch(auth_client, [padded])
    single = auth_client.post("/payment", padded, format="json")
    unknown = auth_client.post("/payment/nowhere", padded, format="json")

    assert results_of(batch)[0]["orderNumber"] == payment["orderNumber"]
    assert "100 bytes" in assert_error(single, 413, "request_too_large")["message"]
    assert_error(unknown, 413, "request_too_large")


def test_payment_post_still_refuses_a_body_over_64_kib(auth_client, payload):
    body = json.dumps({**payload, "padding": "x" * SINGLE_LIMIT})

    response = auth_client.post("/payment", body, content_type="application/json")

    assert "65536 bytes" in assert_error(response, 413, "request_too_large")["message"]
    assert not Payment.objects.exists()


def test_payment_batch_refuses_a_content_length_of_too_many_digits(auth_client, item):
    body = json.dumps({"payments": [item()]})

    response = auth_client.post(
        "/payment/batch", body, content_type="application/json", CONTENT_LENGTH="9" * 30
    )

    assert_error(response, 413, "request_too_large")


# --- two batches at once ------------------------------------------------------------------------


def create_batches_at_once(batches: list[list]) -> tuple[list, list]:
    """payment_create_batch() on each of `batches`, one thread each, all released together: the
    answers (None where a thread raised) and the exceptions raised."""
    return at_once(
        *[lambda batch=batch: services.payment_create_batch(payments=batch) for batch in batches]
    )


@pytest.mark.django_db(transaction=True)
def test_payment_batch_concurrent_overlapping_batches_store_each_order_once(order_number):
    # The same orders in opposite orders, at once. Inserted in the order given, each batch would
    # wait on a row the other holds: PostgreSQL would kill one (DeadlockDetected) in about one
    # try out of two. Several tries, as the batches do not always overlap.
    for _ in range(5):
        batch = [
            services.PaymentRequest(order_number(), "Ada Lovelace", "12 Row", Decimal("1.00"))
            for _ in range(500)
        ]

        answers, errors = create_batches_at_once([batch, batch[::-1]])

        assert errors == []
        created = [
            result.order_number for answer in answers for result in answer if not result.replayed
        ]
        assert sorted(created) == sorted(request.order_number for request in batch)
        by_number = {result.order_number: result.payment for result in answers[1]}
        for result in answers[0]:
            assert by_number[result.order_number].transaction_id == result.payment.transaction_id
    assert Payment.objects.count() == 5 * 500
