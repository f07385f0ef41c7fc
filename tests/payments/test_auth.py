import base64

import pytest
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from payments.auth import ServiceClient, ServiceTokenAuthentication
from payments.models import Payment

pytestmark = pytest.mark.django_db

BASIC = "Basic " + base64.b64encode(b"admin:admin").decode()


def authenticate(header: str | None):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    request = Request(APIRequestFactory().post("/payment", **extra))
    return ServiceTokenAuthentication().authenticate(request)


def test_service_token_authentication_accepts_the_token(token):
    client, credentials = authenticate(f"Bearer {token}")

    assert isinstance(client, ServiceClient)
    assert client.is_authenticated
    assert credentials == token


def test_service_token_authentication_accepts_a_lowercase_scheme(token):
    client, _ = authenticate(f"bearer {token}")

    assert isinstance(client, ServiceClient)


def test_service_token_authentication_ignores_a_request_without_header():
    assert authenticate(None) is None


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong", "Bearer", "Bearer ", "Token {token}", BASIC, "{token}", "Bearer {token}x"],
    ids=["wrong", "no-token", "empty-token", "token-scheme", "basic", "no-scheme", "longer"],
)
def test_service_token_authentication_rejects_bad_credentials(token, header):
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(header.format(token=token))


def test_service_token_authentication_uses_the_configured_token(settings):
    previous = settings.PAYMENTS_API_TOKEN
    settings.PAYMENTS_API_TOKEN = f"{previous}-rotated"

    assert authenticate(f"Bearer {previous}-rotated")[0].is_authenticated
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(f"Bearer {previous}")


def test_payment_post_without_token_is_401_with_challenge(api_client, payload, payment_path):
    response = api_client.post(payment_path, payload, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong-token", "Bearer ", "Token {token}", BASIC, "{token}"],
    ids=["wrong", "empty", "token-scheme", "basic", "no-scheme"],
)
def test_payment_post_with_bad_credentials_is_401(api_client, payload, token, header):
    response = api_client.post(
        "/payment/", payload, format="json", HTTP_AUTHORIZATION=header.format(token=token)
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "authentication_failed"
    assert not Payment.objects.exists()


def test_payment_post_with_the_token_is_accepted(api_client, payload, token, payment_path):
    response = api_client.post(
        payment_path, payload, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 201
    assert Payment.objects.filter(order_number=payload["orderNumber"]).exists()


def test_payment_post_checks_the_token_before_the_body(api_client):
    response = api_client.post("/payment", "not json", content_type="application/json")

    assert response.status_code == 401


def test_payment_list_without_token_is_401_with_challenge(api_client, payment_path, make_payment):
    """Every payment carries a customer's name and address: only Orders may read them."""
    make_payment()

    response = api_client.get(payment_path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert "Ada" not in response.content.decode()


@pytest.mark.parametrize("query", ["", "?updatedSince=2026-01-01T00:00:00Z", "?pageSize=1"])
def test_payment_list_with_a_wrong_token_is_401(api_client, token, query):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}-wrong")

    response = api_client.get(f"/payment/{query}")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_payment_list_with_the_token_is_200(auth_client):
    assert auth_client.get("/payment/").status_code == 200
