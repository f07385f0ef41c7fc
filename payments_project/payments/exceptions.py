from rest_framework import status

from config.errors import ApplicationError


class PaymentConflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "payment_conflict"
    message = "This order number already has a payment with different details."
