from rest_framework import status

from servicekit.errors import ApplicationError, Conflict, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No order has this number."


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, *, order_number: str, from_state: str, to_state: str):
        self.from_state, self.to_state = from_state, to_state
        super().__init__(f"Order {order_number} is {from_state} and cannot become {to_state}.")


class PaymentError(ApplicationError):
    """Base of what can go wrong when Orders asks Payments for a payment."""


class PaymentsUnavailable(PaymentError):
    """No answer, or one that says "try again" (timeout, connection error, 5xx, 429).

    The outcome is unknown, not failed: the retry reuses the order number, so Payments answers
    with the result it stored if the first call got through."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "payments_unavailable"


class PaymentRefused(PaymentError):
    """Payments refused the request itself (bad token, invalid data, conflicting amount):
    retrying the same request cannot help; an operator has to look. Raised only in tasks (no
    API calls Payments), so its code names it in logs, never in an answer."""

    status_code = status.HTTP_502_BAD_GATEWAY
    code = "payment_refused"

    def __init__(
        self,
        message: str | None = None,
        *,
        http_status: int | None = None,
        payments_code: str | None = None,
    ):
        # What Payments answered, so that a caller can tell one refusal from another.
        self.http_status, self.payments_code = http_status, payments_code
        super().__init__(message)


class NothingToRefund(PaymentRefused):
    """Payments has no charge to give back: it never took this payment (404
    payment_not_found) or declined it (409 payment_not_refundable). Final, not an error."""

    code = "nothing_to_refund"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = (
        "This Idempotency-Key was already used with a different request body; "
        "send a new key for a new order."
    )


class RateLimited(ApplicationError):
    """One client sent more POST /order than ORDERS_CREATE_RATE_LIMIT allows (orders/ratelimit)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "rate_limited"
