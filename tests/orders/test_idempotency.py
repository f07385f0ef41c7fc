"""POST /order with an Idempotency-Key: one order per key, the stored answer on every replay."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from common.errors import assert_error
from django.utils import timezone
from helpers import batch_echo, batch_refuse_all, run_in_threads, sent_numbers
from rest_framework.test import APIClient

from orders import idempotency, services
from orders.models import IdempotencyKey, Order, OrderState
from orders.tasks import delete_expired_idempotency_keys

pytestmark = pytest.mark.django_db

NEW_ORDER = {"name": "Ada Lovelace", "address": "12 Analytical Row", "price": "12.50"}
KEY = "order-7f3c1e0a-2b4d-4c8e-9a1f-5d6e7f8a9b0c"


def post(client, body=NEW_ORDER, key: str | None = KEY, **extra):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    if isinstance(body, str):
        return client.post("/order", body, content_type="application/json", **headers, **extra)
    return client.post("/order", body, format="json", **headers, **extra)


def test_order_create_api_replays_the_stored_response_for_the_same_key_and_body(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = post(api_client)
        again = post(api_client)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1
    assert Order.objects.get().number == first.json()["orderNumber"]
    assert len(callbacks) == 1  # one payment queued, for the one order


def test_order_create_api_replay_answers_what_was_first_answered(api_client):
    first = post(api_client)
    number = first.json()["orderNumber"]
    services.order_apply_payment_result(
        order_number=number, payment_status="confirmed", transaction_id="tx-1"
    )

    again = post(api_client)

    # The order changed state since; the replay is the response of the request that created it.
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.json()["state"] == "created"
    assert Order.objects.get(number=number).state == OrderState.CONFIRMED


@pytest.mark.parametrize(
    "same_order",
    [
        '{"price": "12.50", "address": "12 Analytical Row", "name": "Ada Lovelace"}',
        '{ "name" : "Ada Lovelace",\n  "address": "12 Analytical Row", "price": 12.5 }',
        '{"name": "  Ada Lovelace ", "address": "12 Analytical Row", "price": "12.5"}',
        '{"name": "Ada Lovelace", "address": "12 Analytical Row", "price": 12.50, "x": 1}',
    ],
)
def test_order_create_api_matches_the_body_after_validation_not_byte_for_byte(
    api_client, same_order
):
    first = post(api_client)

    again = post(api_client, same_order)

    assert again.status_code == 201, again.content
    assert again.content == first.content
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "other",
    [
        {**NEW_ORDER, "price": "12.51"},
        {**NEW_ORDER, "name": "Ada Byron"},
        {**NEW_ORDER, "address": "13 Analytical Row"},
    ],
)
def test_order_create_api_refuses_a_key_reused_with_another_body(api_client, other):
    first = post(api_client)

    response = post(api_client, other)

    body = assert_error(response, 409, "idempotency_key_reused", fields=("Idempotency-Key",))
    assert "Idempotency-Key" in body["message"]
    assert Order.objects.count() == 1
    assert post(api_client).content == first.content  # the key still answers its own body


def test_order_create_api_creates_one_order_per_key(api_client):
    numbers = {post(api_client, key=key).json()["orderNumber"] for key in ("key-a", "key-b")}

    assert len(numbers) == 2
    assert Order.objects.count() == 2
    assert IdempotencyKey.objects.count() == 2


def test_order_create_api_without_a_key_creates_an_order_each_time(api_client):
    post(api_client, key=None)
    post(api_client, key=None)

    assert Order.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize(
    "key",
    [
        "x",
        "A" * 255,
        "with spaces and ~!@#$%^&*()_+{}|:<>?",
        "550e8400-e29b-41d4-a716-446655440000",
    ],
)
def test_order_create_api_accepts_printable_ascii_keys_up_to_255(api_client, key):
    response = post(api_client, key=key)

    assert response.status_code == 201
    assert IdempotencyKey.objects.get().key == key


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("A" * 256, id="256-chars"),
        pytest.param("clé", id="not-ascii"),
        pytest.param("tab\there", id="control-char"),
        pytest.param("del\x7f", id="delete-char"),
    ],
)
def test_order_create_api_refuses_a_bad_key_naming_the_header(api_client, key):
    response = post(api_client, key=key)

    assert_error(response, 400, "invalid", fields=("Idempotency-Key",))
    assert not Order.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_order_create_api_does_not_use_up_a_key_on_an_invalid_body(api_client):
    refused = post(api_client, {**NEW_ORDER, "price": -1})
    assert_error(refused, 400, "invalid", fields=("price",))

    response = post(api_client)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Order.objects.count() == 1


def test_order_create_idempotent_answers_from_the_winner_when_its_insert_loses(
    monkeypatch, django_capture_on_commit_callbacks
):
    """The PostgreSQL race, played on any database: our first read misses the key that a
    concurrent request commits, our INSERT of the key fails, and our order rolls back with it."""
    fields = {"name": "Ada", "address": "1 Loop Road", "price": Decimal("3.00")}

    def render(order):
        return {"orderNumber": order.number}

    winner, _ = idempotency.order_create_idempotent(idempotency_key=KEY, render=render, **fields)
    real_filter = IdempotencyKey.objects.filter
    misses = []

    def miss_once(*args, **kwargs):
        if not misses:
            misses.append(True)
            return real_filter(pk=None)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(IdempotencyKey.objects, "filter", miss_once)

    with django_capture_on_commit_callbacks() as callbacks:
        stored, replayed = idempotency.order_create_idempotent(
            idempotency_key=KEY, render=render, **fields
        )

    assert misses == [True]
    assert replayed
    assert stored.pk == winner.pk
    assert Order.objects.count() == 1
    assert not callbacks  # the rolled-back order queued no payment


# --- the sweep that forgets old keys ---------------------------------------------------------


def key_aged(api_client, key: str, age: timedelta) -> IdempotencyKey:
    post(api_client, key=key)
    IdempotencyKey.objects.filter(key=key).update(created_at=timezone.now() - age)
    return IdempotencyKey.objects.get(key=key)


def test_idempotency_keys_delete_expired_deletes_only_keys_past_the_ttl(api_client, settings):
    ttl = timedelta(seconds=settings.ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS)
    assert ttl >= timedelta(hours=24)
    old = key_aged(api_client, "old", ttl + timedelta(seconds=1))
    young = key_aged(api_client, "young", ttl - timedelta(minutes=1))

    assert idempotency.idempotency_keys_delete_expired() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == [young.key]
    assert Order.objects.filter(pk=old.order_id).exists()  # the order itself stays


def test_idempotency_keys_delete_expired_uses_the_configured_ttl_and_batches(api_client, settings):
    settings.ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS = 60
    for index in range(5):
        key_aged(api_client, f"k{index}", timedelta(seconds=61))
    key_aged(api_client, "fresh", timedelta(seconds=59))

    assert idempotency.idempotency_keys_delete_expired(batch_size=2) == 5
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_delete_expired_idempotency_keys_task_frees_the_key_for_a_new_order(api_client, settings):
    first = post(api_client).json()["orderNumber"]
    IdempotencyKey.objects.update(
        created_at=timezone.now()
        - timedelta(seconds=settings.ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS + 1)
    )

    assert delete_expired_idempotency_keys.delay().get() == 1
    assert delete_expired_idempotency_keys.delay().get() == 0

    again = post(api_client)
    assert again.status_code == 201
    assert again.json()["orderNumber"] != first
    assert Order.objects.count() == 2


# --- concurrent requests with one key ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_order_create_api_concurrent_requests_with_one_key_make_one_order(http, batch_url):
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))

    answers = run_in_threads(*(lambda: post(APIClient()) for _ in range(6)))

    assert [getattr(answer, "status_code", answer) for answer in answers] == [201] * 6
    assert len({answer.content for answer in answers}) == 1
    assert sum(answer.has_header("Idempotent-Replayed") for answer in answers) == 5
    order = Order.objects.get()
    assert order.number == answers[0].json()["orderNumber"]
    assert order.history.filter(to_state=OrderState.CREATED).count() == 1
    assert [number for call in http.calls for number in sent_numbers(call)] == [order.number]
    assert Order.objects.get().state == OrderState.CONFIRMED
    assert IdempotencyKey.objects.get().order_id == order.id


@pytest.mark.django_db(transaction=True)
def test_order_create_api_concurrent_requests_with_one_key_and_two_bodies(http, batch_url):
    http.add_callback("POST", batch_url, callback=batch_refuse_all())  # stays `created`
    bodies = [NEW_ORDER, {**NEW_ORDER, "price": "99.00"}] * 2

    answers = run_in_threads(*(lambda body=body: post(APIClient(), body) for body in bodies))

    codes = sorted(getattr(answer, "status_code", answer) for answer in answers)
    winner = Order.objects.get()
    winning_price = f"{winner.price:.2f}"
    same_as_winner = sum(body["price"] == winning_price for body in bodies)
    assert codes == sorted([201] * same_as_winner + [409] * (len(bodies) - same_as_winner))
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "idempotency_key_reused"
        else:
            assert answer.json()["orderNumber"] == winner.number


def test_order_create_api_key_payment_flow_confirms_the_one_order(
    api_client, django_capture_on_commit_callbacks, http, batch_url
):
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))

    with django_capture_on_commit_callbacks(execute=True):
        number = post(api_client).json()["orderNumber"]
        post(api_client)

    assert Order.objects.get(number=number).state == OrderState.CONFIRMED
    assert len(http.calls) == 1
    assert json.loads(http.calls[0].request.body) == {
        "payments": [{"orderNumber": number, **NEW_ORDER, "paymentMethod": "card"}]
    }
