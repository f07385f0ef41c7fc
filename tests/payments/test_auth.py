import base64
import collections
import threading
import time

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from helpers import load_settings
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


def test_service_token_authentication_uses_the_configured_token(settings, token):
    settings.PAYMENTS_API_TOKENS = (f"{token}-rotated",)

    assert authenticate(f"Bearer {token}-rotated")[0].is_authenticated
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(f"Bearer {token}")


def test_service_token_authentication_accepts_any_of_the_tokens(settings):
    settings.PAYMENTS_API_TOKENS = ("old-token", "new-token")

    assert authenticate("Bearer old-token")[0].is_authenticated
    assert authenticate("Bearer new-token")[0].is_authenticated
    for wrong in ("Bearer old-tokennew-token", "Bearer new", "Bearer old-token,new-token"):
        with pytest.raises(exceptions.AuthenticationFailed):
            authenticate(wrong)


# --- PAYMENTS_API_TOKENS and PAYMENTS_API_TOKEN -----------------------------------------------

PRODUCTION = {"DJANGO_ENV": "production", "PAYMENTS_SECRET_KEY": "s"}


@pytest.mark.parametrize(
    ("env", "tokens"),
    [
        ({"PAYMENTS_API_TOKEN": "only"}, ("only",)),
        ({"PAYMENTS_API_TOKENS": "new, old"}, ("new", "old")),
        (
            {"PAYMENTS_API_TOKENS": "new,old", "PAYMENTS_API_TOKEN": "third"},
            ("new", "old", "third"),
        ),
        ({"PAYMENTS_API_TOKENS": "new,old", "PAYMENTS_API_TOKEN": "old"}, ("new", "old")),
        ({"PAYMENTS_API_TOKENS": " , ", "PAYMENTS_API_TOKEN": "only"}, ("only",)),
    ],
    ids=["token-alone", "tokens-alone", "union", "union-once", "blank-items"],
)
def test_settings_accept_the_union_of_both_variables(monkeypatch, tmp_path, env, tokens):
    monkeypatch.delenv("PAYMENTS_API_TOKEN", raising=False)
    monkeypatch.delenv("PAYMENTS_API_TOKENS", raising=False)

    assert (
        load_settings(monkeypatch, tmp_path, **PRODUCTION, **env)["PAYMENTS_API_TOKENS"] == tokens
    )


def test_settings_ask_for_a_token_outside_local_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("PAYMENTS_API_TOKEN", raising=False)
    monkeypatch.delenv("PAYMENTS_API_TOKENS", raising=False)

    with pytest.raises(ImproperlyConfigured, match="PAYMENTS_API_TOKENS or PAYMENTS_API_TOKEN"):
        load_settings(monkeypatch, tmp_path, **PRODUCTION, PAYMENTS_API_TOKENS=" ")
    assert load_settings(monkeypatch, tmp_path)["PAYMENTS_API_TOKENS"] == ("local-payments-token",)


# --- rotation: the three steps under load -----------------------------------------------------


class Callers:
    """Threads calling GET /payment on the live server as Orders would, each with the token
    Orders sends at that moment (`sends`), counting every answer by token and status."""

    def __init__(self, url: str, token: str, threads: int = 4):
        self.url, self.sends = url, token
        self.answers: collections.Counter = collections.Counter()
        self.last_sent: dict[int, str] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.call, args=(n,)) for n in range(threads)]

    def call(self, number: int) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                token = self.sends
                answer = session.get(
                    f"{self.url}/payment?pageSize=1",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                with self.lock:
                    self.answers[(token, answer.status_code)] += 1
                    self.last_sent[number] = token

    def calls(self) -> int:
        with self.lock:
            return sum(self.answers.values())

    def wait_for(self, more: int) -> None:
        """Until `more` calls have been answered."""
        target, deadline = self.calls() + more, time.monotonic() + 30
        while self.calls() < target:
            assert time.monotonic() < deadline, "the callers stopped calling"
            time.sleep(0.01)

    def wait_until_every_caller_sent(self, token: str) -> None:
        """Until every thread's last answered call carried `token`: what an operator waits for
        before the third step (every Orders process restarted with the new token)."""
        deadline = time.monotonic() + 30
        while True:
            with self.lock:
                if len(self.last_sent) == len(self.threads) and set(self.last_sent.values()) == {
                    token
                }:
                    return
            assert time.monotonic() < deadline, "a caller never sent the new token"
            time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_token_rotation_in_three_steps_refuses_no_call(live_server, settings):
    old, new = "old-rotation-token", "new-rotation-token"
    settings.PAYMENTS_API_TOKENS = (old,)
    callers = Callers(live_server.url, old)
    for thread in callers.threads:
        thread.start()
    try:
        callers.wait_for(20)
        settings.PAYMENTS_API_TOKENS = (old, new)  # 1. Payments accepts the new token too
        callers.wait_for(20)
        callers.sends = new  # 2. Orders sends the new token (its processes restarted)
        callers.wait_until_every_caller_sent(new)
        callers.wait_for(20)
        settings.PAYMENTS_API_TOKENS = (new,)  # 3. Payments drops the old one
        callers.wait_for(20)
    finally:
        callers.stop.set()
        for thread in callers.threads:
            thread.join(timeout=15)

    statuses = {status for _, status in callers.answers}
    assert statuses == {200}, callers.answers
    assert callers.answers[(old, 200)] >= 40
    assert callers.answers[(new, 200)] >= 40
    # The rotation did happen: the old token is refused now.
    dropped = requests.get(
        f"{live_server.url}/payment", headers={"Authorization": f"Bearer {old}"}, timeout=10
    )
    assert dropped.status_code == 401


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
