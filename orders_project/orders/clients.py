"""The one way Orders talks to Payments: a shared session, a timeout on every call, and network
failures turned into PaymentsUnavailable (retried by the task) or PaymentRejected (not)."""

import functools
import logging
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings

from orders.exceptions import PaymentRejected, PaymentsUnavailable

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})
PAYMENT_OUTCOMES = frozenset({"confirmed", "declined"})
MAX_TRANSACTION_ID_LENGTH = 64  # a UUID is 36; the id goes into a 200-character history reason


@dataclass(frozen=True)
class PaymentResult:
    order_number: str
    status: str
    transaction_id: str


class PaymentsClient:
    def __init__(self, *, base_url: str, token: str, timeout: tuple[float, float]):
        self.base_url = base_url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )

    def create_payment(
        self, *, order_number: str, name: str, address: str, price: Decimal
    ) -> PaymentResult:
        payload = {
            "orderNumber": order_number,
            "name": name,
            "address": address,
            "price": str(price),
        }
        body = self._post("/payment", payload)
        status, transaction_id = body.get("status"), body.get("transactionId")
        if (
            body.get("orderNumber") != order_number
            or status not in PAYMENT_OUTCOMES
            or not isinstance(transaction_id, str)
            or not 0 < len(transaction_id) <= MAX_TRANSACTION_ID_LENGTH
        ):
            # The call went through but we cannot read its result: unknown, so ask again.
            raise PaymentsUnavailable(f"Unexpected payment response for {order_number}: {body}")
        return PaymentResult(order_number, status, transaction_id)

    def _post(self, path: str, payload: dict) -> dict:
        try:
            response = self.session.post(self.base_url + path, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PaymentsUnavailable(f"Payments did not answer: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS_CODES:
            raise PaymentsUnavailable(f"Payments answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            detail = body or response.text[:200]
            raise PaymentRejected(f"Payments refused {path} with {response.status_code}: {detail}")
        if not isinstance(body, dict):
            raise PaymentsUnavailable(f"Payments answered {path} with a non-JSON body")
        return body


@functools.cache
def payments_client() -> PaymentsClient:
    return PaymentsClient(
        base_url=settings.PAYMENTS_URL,
        token=settings.PAYMENTS_API_TOKEN,
        timeout=(settings.PAYMENTS_CONNECT_TIMEOUT_SECONDS, settings.PAYMENTS_READ_TIMEOUT_SECONDS),
    )
