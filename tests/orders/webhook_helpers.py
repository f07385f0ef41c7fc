"""Fixtures of the webhook tests (tests/orders/test_webhooks_*.py): a subscription, the list
of active subscriptions read afresh in each test, the sender's wake-up guard of its own, and an
endpoint behind `responses` that verifies every signature with the standardwebhooks package."""

import json
import uuid

import pytest
import responses
from standardwebhooks import Webhook

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
    sender._sessions.clear()  # the sessions are mocked per test by `responses`
    yield
    outbox.forget_active_subscriptions()
    sender._sessions.clear()


@pytest.fixture
def subscribe(db):
    """Subscribe ENDPOINT (or `url`) to `types` (none: all); returns the subscription."""

    def add(*types: str, url: str = ENDPOINT):
        subscription, _ = subscription_add(url=url, types=list(types))
        return subscription

    return add


class Endpoint:
    """What an endpoint received, verified: each message's headers and parsed body, in order."""

    def __init__(self, secret: str):
        self.verifier = Webhook(secret)
        self.received: list[dict] = []
        self.answers: list[int] = []  # the status codes to answer, in turn; then 204

    def __call__(self, request):
        message = self.verifier.verify(request.body, dict(request.headers))
        assert request.headers["webhook-id"] == message["id"]
        self.received.append(message)
        status = self.answers.pop(0) if self.answers else 204
        return status, {}, json.dumps({"status": status}) if status != 204 else ""

    @property
    def ids(self) -> list[str]:
        return [message["id"] for message in self.received]

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self.received]


@pytest.fixture
def endpoint(http, subscribe):
    """ENDPOINT subscribed to every type, answering through an Endpoint (204 unless told)."""

    def make(*types: str) -> Endpoint:
        subscription = subscribe(*types)
        receiver = Endpoint(subscription.secret)
        http.add_callback(responses.POST, ENDPOINT, callback=receiver)
        receiver.subscription = subscription
        return receiver

    return make
