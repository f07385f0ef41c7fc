"""The application the WSGI server serves (config/wsgi.py), called the way a server calls it:
the API answers without cookies, while the admin, static files, request ids and metrics keep
working on their paths, all through Django's own middleware. Transactional tests: the handler
opens and closes database connections as in production."""

from urllib.parse import urlencode

import pytest
from common.wsgi import CSRF_FIELD, STALE_COOKIES, call, environ_for, requests_counted
from django.core.signals import request_finished

from config.wsgi import application
from servicekit.wsgi import service_application

pytestmark = pytest.mark.django_db(transaction=True)


def test_wsgi_api_keeps_the_security_headers_and_the_host_check(service, read_headers):
    path, _ = service.list_route
    answer = call(application, "GET", path, **read_headers)
    foreign = call(application, "GET", path, HTTP_HOST="evil.example", **read_headers)

    assert answer.status_code == 200
    assert answer.get("X-Content-Type-Options") == "nosniff"
    assert answer.get("X-Frame-Options") == "DENY"
    assert answer.get("Referrer-Policy") == "same-origin"
    assert foreign.status_code == 400


def test_wsgi_admin_login_page_sets_the_csrf_cookie():
    answer = call(application, "GET", "/admin/login/", HTTP_COOKIE=STALE_COOKIES)

    assert answer.status_code == 200
    assert answer.cookies["csrftoken"].value
    assert answer.cookies["sessionid"].value == ""  # the stale session is deleted
    assert answer.varies_on_cookie


@pytest.mark.usefixtures("fast_password_hashing")
def test_wsgi_admin_login_without_the_csrf_token_is_refused(admin_user):
    token = call(application, "GET", "/admin/login/").cookies["csrftoken"].value
    form = urlencode({"username": "admin", "password": "password"}).encode()

    answer = call(
        application,
        "POST",
        "/admin/login/",
        form,
        CONTENT_TYPE="application/x-www-form-urlencoded",
        HTTP_COOKIE=f"csrftoken={token}",
    )

    assert answer.status_code == 403
    assert "sessionid" not in answer.cookies


@pytest.mark.usefixtures("fast_password_hashing")
def test_wsgi_admin_login_with_the_csrf_token_opens_a_session(admin_user):
    page = call(application, "GET", "/admin/login/")
    cookie = page.cookies["csrftoken"].value
    form = {"username": "admin", "password": "password", "next": "/admin/"}
    form["csrfmiddlewaretoken"] = CSRF_FIELD.search(page.body.decode())[1]

    login = call(
        application,
        "POST",
        "/admin/login/",
        urlencode(form).encode(),
        CONTENT_TYPE="application/x-www-form-urlencoded",
        HTTP_COOKIE=f"csrftoken={cookie}",
    )
    session = login.cookies["sessionid"].value
    index = call(application, "GET", "/admin/", HTTP_COOKIE=f"sessionid={session}")

    assert login.status_code == 302
    assert login.get("Location") == "/admin/"
    assert index.status_code == 200
    assert b"Site administration" in index.body


def test_wsgi_serves_static_files(settings, tmp_path, service):
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "probe.css").write_text("body {}")
    settings.STATIC_ROOT = tmp_path
    # WhiteNoise indexes STATIC_ROOT when the handler loads: a new one, as config/wsgi.py builds.
    fresh = service_application(service=service.name)
    counted = requests_counted("GET", "static", "2xx")

    answer = call(fresh, "GET", "/static/admin/probe.css", HTTP_X_REQUEST_ID="static-1")

    assert answer.status_code == 200
    assert answer.body == b"body {}"
    assert answer.get("X-Request-ID") == "static-1"
    assert requests_counted("GET", "static", "2xx") == counted + 1
    chunks = fresh(environ_for("GET", "/static/admin/probe.css"), lambda *args: None)
    assert not isinstance(chunks, list)  # a file is streamed, not read whole first
    chunks.close()


def test_wsgi_hands_a_built_answer_over_whole_and_ends_its_request(service, read_headers):
    ended = []

    def count(**kwargs):
        ended.append(kwargs["sender"])

    request_finished.connect(count)
    try:
        chunks = application(
            environ_for("GET", service.list_route[0], **read_headers), lambda *args: None
        )
    finally:
        request_finished.disconnect(count)

    # One bytes object, which the server writes in one go, and Django's end of the request
    # (request_finished: the database connections' care) already run, as a server would run it.
    assert isinstance(chunks, list) and len(chunks) == 1 and chunks[0].startswith(b"{")
    assert len(ended) == 1


@pytest.mark.parametrize("where", ["api", "admin"])
def test_wsgi_request_id_and_metrics_apply_to_the_api_and_the_admin(service, where, read_headers):
    path, route = service.list_route if where == "api" else ("/admin/login/", "admin:login")
    counted = requests_counted("GET", route, "2xx")

    answer = call(application, "GET", path, HTTP_X_REQUEST_ID="mw-test-1", **read_headers)

    assert answer.status_code == 200
    assert answer.get("X-Request-ID") == "mw-test-1"
    assert requests_counted("GET", route, "2xx") == counted + 1
