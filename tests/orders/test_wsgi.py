"""The application the web server serves, called the way a WSGI server calls it: the shared checks
are tests/contract/test_wsgi.py; here, the order API without cookies: CSRF runs on
it as on the admin (sessions only on the admin's paths), and sets none on an API answer."""

import pytest
from common.wsgi import call
from helpers import batch_echo

from config.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)

NEW_ORDER = b'{"name": "Ada", "address": "1 Loop Road", "price": "12.50"}'


@pytest.fixture(autouse=True)
def payments_answers(http, batch_url):
    http.add_callback("POST", batch_url, callback=batch_echo())


def test_wsgi_api_post_and_get_set_no_cookie():
    created = call(application, "POST", "/order", NEW_ORDER)
    number = created.json()["orderNumber"]
    status = call(application, "GET", f"/order/status/{number}")

    assert created.status_code == 201, created.body
    assert status.status_code == 200, status.body
    assert status.json()["state"] == "confirmed"  # the charger ran on commit (eager Celery)
    for answer in (created, status):
        assert not answer.cookies
        assert not answer.varies_on_cookie
