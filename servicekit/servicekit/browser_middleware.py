"""Django's browser-side middleware, passed by on the JSON API's paths (settings.API_PATHS).

Sessions, the logged-in user, messages and the CSRF cookie serve the admin; the API uses none of
them (DRF's views are csrf_exempt, and authenticate with DRF's own classes, if any), yet they
cost it 30 to 50 us of CPU a request, 3 to 5 % of an order's (docs/performance.md, item 8).
Each class here is Django's own: on a path under settings.API_PATHS it hands the request straight
on, on any other path it runs in full. A path nobody listed gets the whole stack, so a new page
can be slower than it need be, never without its session or CSRF cookie.

They stay in settings.MIDDLEWARE rather than behind a second handler for the API: Django takes
the hooks it calls around the view from that list alone, so CSRF's check (process_view) still
runs on every path and refuses a forged POST to any view that is not csrf_exempt, even under an
API path; and the test client, gunicorn and the tracing middleware all see the same one stack.
"""

import re

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import csrf


def api_path_pattern(paths) -> re.Pattern:
    """Each path, with or without a trailing slash, and everything under it."""
    roots = "|".join(re.escape(path.rstrip("/")) for path in paths)
    return re.compile(rf"(?:{roots})(?:/|$)")


class SkippedOnApiPaths:
    def __init__(self, get_response):
        super().__init__(get_response)
        self.api_path = api_path_pattern(settings.API_PATHS)

    def __call__(self, request):
        if self.api_path.match(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(SkippedOnApiPaths, sessions.SessionMiddleware):
    pass


class CsrfViewMiddleware(SkippedOnApiPaths, csrf.CsrfViewMiddleware):
    pass


class AuthenticationMiddleware(SkippedOnApiPaths, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(SkippedOnApiPaths, messages.MessageMiddleware):
    pass
