"""Refuse a body over API_MAX_BODY_BYTES by its Content-Length, before anything reads it.

Why this stays beside DATA_UPLOAD_MAX_MEMORY_SIZE (the same number): Django's cap
covers a plain route as well as this does. It refuses by Content-Length when request.body is
first read, and a chunked body without a Content-Length is never read under WSGI (both tested
in tests/contract/test_abuse.py). It leaves two cases open:
- a Content-Length that is not a whole number ("abc", "-1", "1.5"): Django's check calls int()
  on it and the request ends in a 500; here it is a JSON 400;
- a route with a larger limit of its own: Django's cap is one number for every route, so a
  view that takes larger bodies (Payments' POST /payment/batch) says so with a
  `max_body_bytes()` classmethod and reads its body with a parser that enforces that limit
  (payments/parsers.py says why request.body cannot be used there).
Only a body over API_MAX_BODY_BYTES costs the URL lookup, so the limit of every other route stays
exactly what it was. Where a server hands over a chunked body anyway (ASGI), request.body stops
at DATA_UPLOAD_MAX_MEMORY_SIZE and servicekit.errors answers with the same 413.
"""

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as message_middleware
from django.contrib.sessions import middleware as session_middleware
from django.http import JsonResponse
from django.urls import Resolver404, resolve

from servicekit.errors import error_body, request_too_large_response


def route_body_limit(path: str) -> int | None:
    """The body limit that the view of `path` declares, if it declares one."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    # as_view() sets view_class: a class-based view. A function view declares nothing.
    max_body_bytes = getattr(getattr(match.func, "view_class", None), "max_body_bytes", None)
    return max_body_bytes() if max_body_bytes else None


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = (request.META.get("CONTENT_LENGTH") or "0").strip()
        if not (length.isascii() and length.isdigit()):
            # Django would take it for 0 here and fail with a 500 when reading request.body.
            message = "Content-Length must be a whole number of bytes."
            return JsonResponse(error_body("bad_request", message), status=400)
        # len() first: int() refuses a string of more than 4300 digits.
        if len(length) > 18 or int(length) > settings.API_MAX_BODY_BYTES:
            limit = route_body_limit(request.path_info)
            if limit is None or len(length) > 18 or int(length) > limit:
                return request_too_large_response(limit)
        return self.get_response(request)


# Where servicekit.urls mounts the admin.
ADMIN_PATH = "/admin/"


class AdminPathsOnly:
    """Runs one of Django's middleware on the admin's paths only: sessions, the logged-in user and
    messages serve the admin and nothing else. The APIs authenticate with a token or not at all
    and keep no session; Swagger UI, health and metrics need none either. On every other path
    the three cost CPU for nothing (docs/performance.md, the layer table).

    A mixin over Django's own classes, so that MIDDLEWARE still names a subclass of each, as the
    admin's checks (admin.E408-E410) require. CSRF stays Django's, unscoped: every API view is
    csrf_exempt, so on an API request it only looks for a cookie, and `check --deploy` asks for
    it by name."""

    def __call__(self, request):
        if request.path_info.startswith(ADMIN_PATH):
            return super().__call__(request)
        return self.get_response(request)


class SessionMiddleware(AdminPathsOnly, session_middleware.SessionMiddleware):
    pass


class AuthenticationMiddleware(AdminPathsOnly, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(AdminPathsOnly, message_middleware.MessageMiddleware):
    pass
