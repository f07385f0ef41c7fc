from django.urls import re_path

from payments import apis, batch_apis

# Every route answers with and without a trailing slash, as the brief's curl commands use both.
urlpatterns = [
    re_path(r"^payment/?$", apis.PaymentCollectionApi.as_view(), name="payment-collection"),
    # Ahead of the refund route, whose segment takes any text: /payment/batch can never reach
    # it, and /payment/batch/refund stays a refund of order "batch" (payment_not_found).
    re_path(r"^payment/methods/?$", apis.PaymentMethodsApi.as_view(), name="payment-methods"),
    re_path(r"^payment/batch/?$", batch_apis.PaymentBatchApi.as_view(), name="payment-batch"),
    # Any segment, so a malformed order number is a payment_not_found like an unknown one.
    re_path(
        r"^payment/(?P<order_number>[^/]+)/refund/?$",
        apis.PaymentRefundApi.as_view(),
        name="payment-refund",
    ),
]
