"""One request through a WSGI application, made the way a WSGI server makes it (`call`), and its
answer read back: the shared WSGI tests (tests/contract/test_wsgi.py) and each service's
test_wsgi.py call config/wsgi.py's application with it."""

import io
import json
import re
import sys
from http.cookies import SimpleCookie
from wsgiref.util import setup_testing_defaults

from prometheus_client import REGISTRY

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
