from payments import apis, batch_apis
from servicekit.urls import api_path

# Each route answers with and without a trailing slash (api_path). An order number is matched by
# the order_number converter: any other segment (/payment/batch/refund too) is a JSON 404
# before a view runs.
urlpatterns = [
    *api_path("payment", apis.PaymentCollectionApi.as_view(), name="payment-collection"),
    *api_path("payment/methods", apis.PaymentMethodsApi.as_view(), name="payment-methods"),
    *api_path("payment/batch", batch_apis.PaymentBatchApi.as_view(), name="payment-batch"),
    *api_path(
        "payment/<order_number:order_number>/refund",
        apis.PaymentRefundApi.as_view(),
        name="payment-refund",
    ),
]
