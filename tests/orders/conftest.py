"""Fixtures for the Orders suite: eager Celery, Payments mocked at the HTTP boundary, orders in
any state reached through the real services."""

import contextlib
import uuid
from decimal import Decimal

import pytest
import redis
import responses
from common.service import Service
from django.conf import settings

from config.celery_app import app as celery_app
from orders import services, transitions, wake_up
from orders.clients import payments_client
from orders.models import Order, OrderState

# Fixtures both suites share: the API clients, the JSON log events, GET /metrics parsed.
pytest_plugins = ["common.clients", "common.logs", "common.scrape"]

# The path through the state machine that reaches each state from `created`.
PATH_TO = {
    OrderState.CREATED: [],
    OrderState.CONFIRMED: [OrderState.CONFIRMED],
    OrderState.DELIVERED: [OrderState.CONFIRMED, OrderState.DELIVERED],
    OrderState.CANCELLED: [OrderState.CANCELLED],
}


@pytest.fixture(autouse=True)
def celery_eager():
    """Run tasks in-process; a retry re-runs at once instead of after its countdown."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield celery_app
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def wake_up_guard(monkeypatch) -> str:
    """The charger's wake-up guard is a key in the real Redis (settings.REDIS_URL), which this
    run shares with any other run on that Redis. Each test gets a key of its own, so that a guard
    left set (its publish failed, or no charger ran) cannot swallow another test's wake-up;
    yields the key."""
    key = f"{wake_up.WAKE_UP_GUARD_KEY}:test-{uuid.uuid4().hex}"
    monkeypatch.setattr(wake_up, "WAKE_UP_GUARD_KEY", key)
    wake_up._guard.cache_clear()
    yield key
    wake_up._guard.cache_clear()  # a test may have pointed it elsewhere
    with contextlib.suppress(redis.RedisError):  # a test that made Redis unreachable
        wake_up._guard().delete(key)
    wake_up._guard.cache_clear()


@pytest.fixture(autouse=True)
def http():
    """Every outbound HTTP call goes through `responses`: an unregistered URL fails with
    ConnectionError, so no test can reach a real network by accident."""
    payments_client.cache_clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
    payments_client.cache_clear()


@pytest.fixture
def batch_url() -> str:
    return f"{settings.PAYMENTS_URL}/payment/batch"


@pytest.fixture
def other_payments(settings):
    """Payments at another URL with another token, read from settings; yields its payment URL."""
    settings.PAYMENTS_URL = "http://payments.test:9000"
    settings.PAYMENTS_API_TOKEN = "another-token"
    payments_client.cache_clear()
    yield "http://payments.test:9000/payment"
    payments_client.cache_clear()


@pytest.fixture(scope="session")
def service() -> Service:
    """Orders as the contract (tests/contract/) sees it."""
    return Service(
        name="orders",
        model=Order,
        create_path="/order",
        api_paths=(
            "/order",
            "/order/{orderNumber}",
            "/order/status/{orderNumber}",
            "/order/cancel/{orderNumber}",
        ),
        valid_body={"name": "Ada Lovelace", "address": "12 Analytical Row", "price": "12.50"},
        required_fields=("name", "address", "price"),
        price_attribute="price",
        api_token=False,  # anyone may create and read orders
    )


@pytest.fixture
def make_order():
    """Create an order through the service and walk it along legal transitions to `state`."""

    def make(state: str = OrderState.CREATED, **fields) -> Order:
        fields = {"name": "Ada", "address": "1 Loop Road", "price": Decimal("12.50"), **fields}
        order = services.order_create(**fields)
        for step in PATH_TO[state]:
            order, _ = transitions.order_transition(
                order_number=order.number, to_state=step, reason="test setup"
            )
        assert order.state == state
        return order

    return make


@pytest.fixture
def make_one(make_order):
    """The contract's way to store one row (tests/contract/test_openapi.py)."""
    return make_order
