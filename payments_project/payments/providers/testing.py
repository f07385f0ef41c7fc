"""Test methods: outcomes a test, a Postman run or a demo chooses by the method's name, like
Stripe's test cards. Refused at start unless PAYMENTS_TEST_METHODS is on (off in production).

"Twice per order" and "once" must hold across requests and the web server's worker processes, so the
attempts are counted in the database (ProviderAttempt), one atomic upsert per attempt
(payments/db.py), never in process memory."""

from payments import db
from payments.providers.base import (
    CONFIRMED,
    DECLINED,
    Charge,
    Decision,
    PaymentProvider,
    ProviderUnavailable,
)


class TestProvider(PaymentProvider):
    __test__ = False  # not a pytest class, whatever its name says
    test_only = True


class ConfirmProvider(TestProvider):
    description = "Test: always confirmed."

    def decide(self, charge: Charge) -> Decision:
        return Decision(CONFIRMED)


class DeclineProvider(TestProvider):
    description = "Test: always declined."

    def decide(self, charge: Charge) -> Decision:
        return Decision(DECLINED)


def _count(value, name: str, *, minimum: float, kind=int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{name} must be a number of at least {minimum}, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return kind(value)


class UnavailableThenConfirmProvider(TestProvider):
    """Unavailable for the first `failures` attempts of each order, then confirmed: the retry
    path. POST /payment answers those attempts 503; in a batch, only that item is unavailable
    (payments/services.py says why)."""

    description = "Test: unavailable (retry later) twice for each order, then confirmed."

    def __init__(self, *, failures: int = 2):
        self.failures = _count(failures, "failures", minimum=0)
        self.description = (
            f"Test: unavailable (retry later) {self.failures} times for each order, then confirmed."
        )

    def decide(self, charge: Charge) -> Decision:
        attempt = db.provider_attempt_count(method=charge.method, order_number=charge.order_number)
        if attempt <= self.failures:
            raise ProviderUnavailable(
                f"{charge.method}: attempt {attempt} of {self.failures} that fail on purpose"
            )
        return Decision(CONFIRMED)


class TimeoutThenConfirmProvider(TestProvider):
    """Confirmed, but the first attempt of each order is answered `answer_after_seconds` late,
    after the payment is stored: longer than Orders' read timeout, the caller gives up without
    knowing that it was charged, and its retry gets the stored payment: one charge."""

    description = "Test: confirmed, but the first answer comes too late for the caller."

    def __init__(self, *, answer_after_seconds: float = 12.0):
        self.answer_after_seconds = _count(
            answer_after_seconds, "answer_after_seconds", minimum=0, kind=float
        )

    def decide(self, charge: Charge) -> Decision:
        first = (
            db.provider_attempt_count(method=charge.method, order_number=charge.order_number) == 1
        )
        return Decision(CONFIRMED, answer_after_seconds=self.answer_after_seconds if first else 0)
