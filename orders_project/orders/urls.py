from orders import apis
from servicekit.urls import api_path

# Each route answers with and without a trailing slash (api_path). An order number is matched by
# the order_number converter: any other segment is a JSON 404 before a view runs.
urlpatterns = [
    *api_path("order", apis.OrderCollectionApi.as_view(), name="order-collection"),
    *api_path(
        "order/status/<order_number:order_number>",
        apis.OrderStatusApi.as_view(),
        name="order-status",
    ),
    *api_path(
        "order/cancel/<order_number:order_number>",
        apis.OrderCancelApi.as_view(),
        name="order-cancel",
    ),
    *api_path(
        "order/<order_number:order_number>", apis.OrderDetailApi.as_view(), name="order-detail"
    ),
]
