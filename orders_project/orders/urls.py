from django.urls import re_path

from orders import apis

# Every route answers with and without a trailing slash, as the brief's curl commands use both.
urlpatterns = [
    re_path(r"^order/?$", apis.OrderCollectionApi.as_view(), name="order-collection"),
    re_path(
        r"^order/status/(?P<order_number>[^/]+)/?$",
        apis.OrderStatusApi.as_view(),
        name="order-status",
    ),
    re_path(
        r"^order/cancel/(?P<order_number>[^/]+)/?$",
        apis.OrderCancelApi.as_view(),
        name="order-cancel",
    ),
    re_path(
        r"^order/(?P<order_number>[^/]+)/?$", apis.OrderDetailApi.as_view(), name="order-detail"
    ),
]
