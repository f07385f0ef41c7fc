"""The application the WSGI server serves, called the way it calls it: the shared checks
are tests/contract/test_wsgi.py; here, the payment API without cookies, by its
token alone."""

import pytest
from common.wsgi import STALE_COOKIES, call

from config.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PAYMENT = b'{"orderNumber": "wsgi0001", "name": "Ada", "address": "1 Loop", "price": "12.50"}'


def test_wsgi_api_post_and_get_set_no_cookie(token):
    created = call(
        application,
        "POST",
        "/payment",
        NEW_PAYMENT,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    listed = call(application, "GET", "/payment/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert created.status_code == 201, created.body
    assert listed.status_code == 200, listed.body
    assert [payment["orderNumber"] for payment in listed.json()["results"]] == ["wsgi0001"]
    for answer in (created, listed):
        assert not answer.cookies
        assert not answer.varies_on_cookie


def test_wsgi_api_authenticates_by_its_token_alone():
    """A session cookie is no credential on the API: a POST without the token is a 401."""
    answer = call(application, "POST", "/payment", NEW_PAYMENT, HTTP_COOKIE=STALE_COOKIES)

    assert answer.status_code == 401, answer.body
    assert answer.get("WWW-Authenticate") == "Bearer"
