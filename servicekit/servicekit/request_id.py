"""A request id on every log line: taken from X-Request-ID when it is safe to log, else made
here, kept in a contextvar for the request's duration and sent back in the response.

Ours, not django-guid (3.6.1): it keeps the header name (GUID_HEADER_NAME)
and carries the id into Celery tasks, but offers two ways to treat a client's id and neither is
our contract. With VALIDATE_GUID on (its default) any id that is not a UUID is replaced, so
Orders' own ids ("req-o-1", a task id's fallback) and every caller's readable id are lost; with
it off any string is kept unchecked: 10 KB, newlines, quotes, i.e. forged log lines and fields.
It has no hook for our rule (1 to 64 of [A-Za-z0-9._-]) short of overriding its middleware's
internals. This module is 40 lines; the propagation is orders/clients.py and
config/celery_signals.py.
"""

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# What a caller may choose: short, and nothing that could forge a log line or a field.
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_or_new(raw: str | None) -> str:
    """The caller's id when it is 1 to 64 of [A-Za-z0-9._-], else a new one."""
    if isinstance(raw, str) and _VALID.fullmatch(raw):
        return raw
    return new_request_id()


class RequestIdMiddleware:
    """First in MIDDLEWARE, so that every log line of the request carries the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # From META, not request.headers: that builds a dict of every header on first use, three
        # quarters of this middleware's cost on an API request that reads no other header.
        value = valid_or_new(request.META.get(META_KEY))
        # Reset afterwards: the server's threads serve one request after another.
        token = request_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = value
        return response
