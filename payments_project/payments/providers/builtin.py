"""The methods a production Payments ships: card and cash on delivery."""

import random

from django.conf import settings

from payments.providers.base import CONFIRMED, DECLINED, Charge, Decision, PaymentProvider


def _probability(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"confirm_probability must be a number from 0 to 1, got {value!r}")
    return float(value)


class CardProvider(PaymentProvider):
    """The mocked card processor: confirms with a probability, declines otherwise."""

    description = "Card payment (mocked): confirmed or declined at random."

    def __init__(self, *, confirm_probability: float | None = None):
        # Unset: PAYMENTS_CONFIRM_PROBABILITY, the knob of the single mocked processor before
        # methods existed, so deployments that set it keep their odds.
        if confirm_probability is None:
            confirm_probability = settings.PAYMENTS_CONFIRM_PROBABILITY
        self.confirm_probability = _probability(confirm_probability)

    def decide(self, charge: Charge) -> Decision:
        return Decision(CONFIRMED if random.random() < self.confirm_probability else DECLINED)


class CashOnDeliveryProvider(PaymentProvider):
    """Always confirmed, nothing charged: the courier collects. A cancel needs no refund."""

    description = "Cash on delivery: always confirmed; nothing is charged up front."

    def decide(self, charge: Charge) -> Decision:
        return Decision(CONFIRMED)

    def refund(self, charge: Charge) -> bool:
        return False
