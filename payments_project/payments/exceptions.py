from rest_framework import status

from servicekit.errors import ApplicationError, Conflict, NotFound


class PaymentConflict(Conflict):
    code = "payment_conflict"
    message = "This order number already has a payment with different details."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "There is no payment for this order number."


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    message = "Only a confirmed payment can be refunded."


class PaymentInvalid(ApplicationError):
    """One item of POST /payment/batch with invalid fields, named in `errors`."""

    code = "invalid"
    message = "The payment has invalid fields."


class PaymentBatchTooLarge(ApplicationError):
    """More items than PAYMENTS_BATCH_MAX_ITEMS: an `invalid` body; the message gives the limit."""

    code = "invalid"

    def __init__(self, *, limit: int, count: int):
        message = f"A batch takes at most {limit} payments; this one has {count}."
        super().__init__(message, errors={"payments": [message]})


class PaymentUnavailable(ApplicationError):
    """The payment method's provider cannot decide now; nothing was charged: retry later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "payment_unavailable"
    message = "The payment method cannot decide now; nothing was charged. Retry later."
