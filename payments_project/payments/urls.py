from django.urls import re_path

from payments import apis

# Every route answers with and without a trailing slash, as the brief's curl commands use both.
urlpatterns = [
    re_path(r"^payment/?$", apis.PaymentCollectionApi.as_view(), name="payment-collection"),
    # Any segment, so a malformed order number is a payment_not_found like an unknown one.
    re_path(
        r"^payment/(?P<order_number>[^/]+)/refund/?$",
        apis.PaymentRefundApi.as_view(),
        name="payment-refund",
    ),
]
