"""The routes every service has beside its API: the admin, health, metrics, the schema and its
docs; the order number's path converter; and `api_path`, which makes a route answer with and
without a trailing slash. The error views that answer in the one JSON error shape are in
errors.py."""

from django.contrib import admin
from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer

from servicekit import health, metrics
from servicekit.fields import ORDER_NUMBER_PATTERN


class OrderNumberConverter:
    """`<order_number:...>`: 8 lowercase ASCII letters or digits, the only numbers Orders issues.
    Anything else (a NUL, "..", unicode digits, an overlong segment) matches no route and is the
    JSON 404 of handler404, so no malformed number reaches a view or the database (PostgreSQL
    refuses a NUL in a query parameter with a DataError)."""

    regex = ORDER_NUMBER_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrderNumberConverter, "order_number")


def api_path(route: str, view, *, name: str) -> list:
    """`route` (no trailing slash) and `route/`: every API route answers both, as the curl
    commands of README (Try it with curl) use both. Both carry the name, which the request
    metrics label a route by; of two routes with one name reverse() gives the last, so the
    canonical form, without the slash, is second. The schema documents that one only
    (servicekit.openapi.canonical_paths)."""
    return [path(f"{route}/", view, name=name), path(route, view, name=name)]


class SchemaView(SpectacularAPIView):
    """GET /schema, whose error answers are JSON like every other's: DRF renders an error with
    the first renderer when negotiation failed (an unknown `?format=`), the schema's YAML."""

    def perform_content_negotiation(self, request, force=False):
        if force:  # DRF forces a choice only for an answer whose negotiation failed
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)


platform_urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^health/live/?$", health.live, name="health-live"),
    re_path(r"^health/ready/?$", health.ready, name="health-ready"),
    re_path(r"^metrics/?$", metrics.metrics_view, name="metrics"),
    # YAML, or JSON for "Accept: application/json" or ?format=json.
    re_path(r"^schema/?$", SchemaView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
