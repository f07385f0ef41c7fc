"""What a payment method is: a provider that decides a charge and gives a charge back."""

from dataclasses import dataclass
from decimal import Decimal

CONFIRMED, DECLINED = "confirmed", "declined"  # PaymentStatus' two decisions


@dataclass(frozen=True)
class Charge:
    """What a provider is asked to decide (or to give back): one order's payment."""

    order_number: str
    amount: Decimal
    method: str


@dataclass(frozen=True)
class Decision:
    """A provider's answer: `status` is "confirmed" or "declined". `answer_after_seconds` makes
    the service answer that much later, after the payment is stored (a test of the caller's
    read timeout: it gives up, but was charged)."""

    status: str
    answer_after_seconds: float = 0.0

    def __post_init__(self):
        if self.status not in (CONFIRMED, DECLINED):
            raise ValueError(f"a decision is {CONFIRMED!r} or {DECLINED!r}, not {self.status!r}")


class ProviderUnavailable(Exception):
    """The provider cannot decide now; nothing was charged, and asking again later may work."""


class PaymentProvider:
    """Base of every payment method. A subclass takes its options (PAYMENTS_METHODS' "options")
    as keyword arguments of __init__ and checks them there, raising ValueError or TypeError: the
    registry builds every provider at start, so a bad option stops the service then, not at the
    first payment. Providers are shared by every request and thread: keep no per-request state
    in them; state that must outlive a request goes in the database (see testing.py)."""

    description = ""
    # A method for tests and demos only: refused at start unless PAYMENTS_TEST_METHODS is on.
    test_only = False

    def decide(self, charge: Charge) -> Decision:
        """Confirm or decline the charge, or raise ProviderUnavailable."""
        raise NotImplementedError

    def refund(self, charge: Charge) -> bool:
        """Give a confirmed charge back. True: given back (the payment becomes refunded);
        False: this method charged nothing, so there is nothing to give back."""
        return True
