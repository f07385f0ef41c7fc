from django.urls import include, path

from servicekit.urls import platform_urlpatterns

urlpatterns = [*platform_urlpatterns, path("", include("orders.urls"))]

handler400 = "servicekit.errors.bad_request_view"
handler404 = "servicekit.errors.not_found_view"
handler500 = "servicekit.errors.server_error_view"
