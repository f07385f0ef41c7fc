"""The API clients the shared tests call a service with, from what its `service` fixture says:
with the service token (the first of Payments' PAYMENTS_API_TOKENS) where its API asks for one,
without where anyone may call; and a fast password hasher for the tests that log in to the
admin. A plugin of both suites (their conftest.py)."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api_client() -> APIClient:
    """No credentials: what an anonymous caller sees."""
    return APIClient()


@pytest.fixture
def read_headers(service, settings) -> dict:
    """What a raw WSGI call sends to read the list: the token if the API asks for one."""
    if not service.api_token:
        return {}
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.PAYMENTS_API_TOKENS[0]}"}


@pytest.fixture
def write_client(read_headers) -> APIClient:
    """A client allowed to create: the same credentials as for reading, on both services."""
    client = APIClient()
    client.credentials(**read_headers)
    return client


@pytest.fixture
def read_client(write_client) -> APIClient:
    return write_client


@pytest.fixture
def fast_password_hashing(settings):
    """pytest-django's admin_user hashes its password: with the production hasher (PBKDF2, a
    million rounds) that is ~0.35 s of CPU per test, which buys nothing in a test. Not autouse:
    the tests that log in (admin_client, admin_user) ask for it with usefixtures."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
