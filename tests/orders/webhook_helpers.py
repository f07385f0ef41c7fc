"""Fixtures of the webhook tests (tests/orders/test_webhooks_*.py): a subscription, the list
of active subscriptions read afresh in each test, the sender's wake-up guard of its own, and a
real endpoint that verifies every signature with the standardwebhooks package."""

import uuid

import pytest
from webhook_receiver import receiving

from orders.webhooks import outbox, sender
from orders.webhooks.services import subscription_add

ENDPOINT = "http://hooks.example.test/orders"


@pytest.fixture(autouse=True)
def fresh_subscriptions(monkeypatch):
    """No test sees the subscriptions of another (their rows rolled back with it): the cache
    of active subscriptions is forgotten before and after each, and the sender's wake-up guard
    is a key of its own, as the charger's is (conftest.py)."""
    outbox.forget_active_subscriptions()
    monkeypatch.setattr(
        outbox, "SENDER_WAKE_UP_GUARD_KEY", f"{outbox.SENDER_WAKE_UP_GUARD_KEY}:{uuid.uuid4().hex}"
    )
    sender._pools.clear()  # each test's endpoint is another server
    yield
    outbox.forget_active_subscriptions()
    sender._pools.clear()


@pytest.fixture
def subscribe(db):
    """Subscribe ENDPOINT (or `url`) to `types` (none: all); returns the subscription."""

    def add(*types: str, url: str = ENDPOINT):
        subscription, _ = subscription_add(url=url, types=list(types))
        return subscription

    return add


class Endpoint:
    """A real endpoint (tools/webhook_receiver.py) on 127.0.0.1 that verifies every message with
    the standardwebhooks package: what it received, and the status codes to answer in turn
    (then 204)."""

    def __init__(self, receiver):
        self.receiver = receiver
        self.answers: list[int] = []
        receiver.answer = lambda message: self.answers.pop(0) if self.answers else 204

    @property
    def received(self) -> list[dict]:
        return list(self.receiver.messages)

    @property
    def ids(self) -> list[str]:
        return [message["id"] for message in self.received]

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self.received]


@pytest.fixture
def receiver():
    with receiving() as running:
        yield running


@pytest.fixture
def endpoint(receiver, subscribe):
    """The receiver subscribed to `types` (none: all), answering 204 unless told."""

    def make(*types: str) -> Endpoint:
        subscription = subscribe(*types, url=receiver.url)
        receiver.verify_with(subscription.secret)
        made = Endpoint(receiver)
        made.subscription = subscription
        return made

    return make
