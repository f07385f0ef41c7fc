from django.contrib import admin
from django.urls import include, path, re_path

from config import health

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^health/live/?$", health.live, name="health-live"),
    re_path(r"^health/ready/?$", health.ready, name="health-ready"),
    path("", include("payments.urls")),
]

handler400 = "config.errors.bad_request_view"
handler404 = "config.errors.not_found_view"
handler500 = "config.errors.server_error_view"
