"""Shared fixtures for the Payments suite (run from payments_project, see the Makefile)."""

import itertools
from decimal import Decimal

import pytest
from common.service import Service
from rest_framework.test import APIClient

from payments import services
from payments.models import Payment

# Fixtures both suites share: the API clients, the JSON log events, GET /metrics parsed.
pytest_plugins = ["common.clients", "common.logs", "common.scrape"]

_numbers = itertools.count(1)


@pytest.fixture(params=["/payment", "/payment/"])
def payment_path(request):
    """Both spellings README's curl commands use; a test taking it runs once for each."""
    return request.param


@pytest.fixture
def order_number():
    """A factory of fresh order numbers that match ^[a-z0-9]{8}$."""
    return lambda: f"ord{next(_numbers):05d}"


@pytest.fixture
def payload(order_number):
    """A valid POST /payment body for a new order."""
    return {
        "orderNumber": order_number(),
        "name": "Ada Lovelace",
        "address": "12 Analytical St, London",
        "price": "10.50",
    }


@pytest.fixture
def confirm_always(settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    return settings


@pytest.fixture
def decline_always(settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0
    return settings


@pytest.fixture
def token(settings):
    return settings.PAYMENTS_API_TOKENS[0]


@pytest.fixture
def auth_client(token):
    """Sends the service token the way Orders does."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture(scope="session")
def service() -> Service:
    """Payments as the contract (tests/contract/) sees it."""
    return Service(
        name="payments",
        model=Payment,
        create_path="/payment",
        api_paths=(
            "/payment",
            "/payment/batch",
            "/payment/methods",
            "/payment/{orderNumber}/refund",
        ),
        valid_body={
            "orderNumber": "abcd1234",
            "name": "Ada Lovelace",
            "address": "12 Row",
            "price": "12.50",
        },
        required_fields=("orderNumber", "name", "address", "price"),
        price_attribute="amount",
        api_token=True,  # payments carry personal data
    )


@pytest.fixture
def make_payment(order_number):
    """Store a payment through the service, as the API would."""

    def make(*, amount="10.00", number=None, name="Ada Lovelace", address="12 Analytical St"):
        payment, created = services.payment_create(
            order_number=number or order_number(),
            name=name,
            address=address,
            amount=Decimal(amount),
        )
        assert created
        return payment

    return make


@pytest.fixture
def make_one(make_payment):
    """The contract's way to store one row (tests/contract/test_openapi.py)."""
    return make_payment
