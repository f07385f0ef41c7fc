from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit import health

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^health/live/?$", health.live, name="health-live"),
    re_path(r"^health/ready/?$", health.ready, name="health-ready"),
    # YAML, or JSON for "Accept: application/json" or ?format=json.
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("payments.urls")),
]

handler400 = "servicekit.errors.bad_request_view"
handler404 = "servicekit.errors.not_found_view"
handler500 = "servicekit.errors.server_error_view"
