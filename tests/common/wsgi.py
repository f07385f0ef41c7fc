"""The application the WSGI server serves (config/wsgi.py), called the way a server calls it:
the API answers without cookies, while the admin, static files, request ids and metrics keep
working on their paths, all through Django's own middleware.

A service's test_wsgi.py imports these with `from common.wsgi import *`. Transactional tests:
the handler opens and closes database connections as in production."""

import io
import json
import re
import sys
from http.cookies import SimpleCookie
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished
from prometheus_client import REGISTRY

from config.wsgi import application
from servicekit.wsgi import service_application

pytestmark = pytest.mark.django_db(transaction=True)

# A stale session and a malformed CSRF cookie: the full stack answers both with a Set-Cookie.
STALE_COOKIES = "sessionid=gone; csrftoken=not-a-token"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status_code = int(status.split()[0])
        self.headers = headers
        self.body = body

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json(self):
        return json.loads(self.body)

    @property
    def cookies(self) -> SimpleCookie:
        cookies = SimpleCookie()
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                cookies.load(value)
        return cookies

    @property
    def varies_on_cookie(self) -> bool:
        return "cookie" in (self.get("Vary") or "").lower()


def environ_for(method: str, path: str, body: bytes = b"", **headers) -> dict:
    """The WSGI environ of one request; headers as HTTP_* keys."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.pop("CONTENT_TYPE", "application/json"),
        **headers,
    }
    setup_testing_defaults(environ)  # HTTP_HOST 127.0.0.1, an allowed host
    return environ


def call(app, method: str, path: str, body: bytes = b"", **headers) -> Answer:
    """One request through `app` as a WSGI server makes it; headers as HTTP_* environ keys."""
    started = []
    chunks = app(
        environ_for(method, path, body, **headers),
        lambda status, headers: started.extend([status, headers]),
    )
    try:
        content = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()  # as a server must: Django sends request_finished here
    return Answer(*started, content)


def requests_counted(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


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
