"""The routes every service has beside its API: the admin, health, metrics, the schema and its
docs; and the error views that answer in the one JSON error shape (servicekit/errors.py)."""

from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit import health, metrics

platform_urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^health/live/?$", health.live, name="health-live"),
    re_path(r"^health/ready/?$", health.ready, name="health-ready"),
    re_path(r"^metrics/?$", metrics.metrics_view, name="metrics"),
    # YAML, or JSON for "Accept: application/json" or ?format=json.
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
