"""servicekit/browser_middleware.py: which paths are the API's, and CSRF's view check kept."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from servicekit.browser_middleware import CsrfViewMiddleware, api_path_pattern


@pytest.mark.parametrize(
    ("path", "is_api"),
    [
        ("/thing", True),
        ("/thing/", True),
        ("/thing/abcd1234/part", True),
        ("/health/live", True),
        ("/schema", True),
        ("/things", False),
        ("/thingx/", False),
        ("/admin/thing/thing/", False),
        ("/static/admin/css/base.css", False),
        ("/docs", False),
        ("/", False),
    ],
)
def test_api_path_pattern_takes_each_path_and_what_is_under_it(settings, path, is_api):
    assert bool(api_path_pattern(settings.API_PATHS).match(path)) is is_api


def test_browser_csrf_middleware_still_checks_views_on_api_paths():
    """Only process_request and process_response are passed by: a view that is not csrf_exempt
    is still refused a POST without a token, whatever its path."""
    middleware = CsrfViewMiddleware(lambda request: HttpResponse())
    request = RequestFactory().post("/thing/")

    refused = middleware.process_view(request, lambda request: HttpResponse(), (), {})

    assert refused is not None
    assert refused.status_code == 403
