"""The one way Orders talks to Payments: a shared session, a timeout on every call, and network
failures turned into PaymentsUnavailable (retried by the task) or PaymentRefused (not)."""

import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings

from orders.exceptions import NothingToRefund, PaymentRefused, PaymentsUnavailable
from orders.metrics import PAYMENTS_CALL_SECONDS
from servicekit.request_id import HEADER as REQUEST_ID_HEADER
from servicekit.request_id import request_id

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})
MAX_TRANSACTION_ID_LENGTH = 64  # a UUID is 36; the id goes into a 200-character history reason
# The refusals of a refund that mean "nothing was charged": final answers, not errors. Any other
# 404 or 409 (say, a Payments without the refund route yet) stays a PaymentRefused.
NOTHING_TO_REFUND = frozenset({(404, "payment_not_found"), (409, "payment_not_refundable")})


class ChargeOutcome(StrEnum):
    """What became of one order of a batch (POST /payment/batch)."""

    CONFIRMED = "confirmed"
    DECLINED = "declined"
    # Only a replay answers this: the charge was given back since (the order was cancelled).
    REFUNDED = "refunded"
    # Payments refused the order itself (another amount before, invalid data): asking again
    # with the same data gets the same answer; the order waits for its claim to expire.
    REFUSED = "refused"
    # Payments could not decide the order now (its method's provider is unavailable; nothing
    # was charged): ask again soon, with backoff, unlike a refusal.
    UNAVAILABLE = "unavailable"


# The outcomes that are Payments' decision about a charge, applied to the order.
DECISIONS = frozenset({ChargeOutcome.CONFIRMED, ChargeOutcome.DECLINED, ChargeOutcome.REFUNDED})
# As Payments writes them; a tuple, so that an unhashable value from the wire is simply not in it.
_DECISION_VALUES = tuple(str(outcome) for outcome in DECISIONS)


@dataclass(frozen=True)
class ChargeResult:
    """One order's result: a decision with its transaction id, or a refusal or an unavailable
    answer with Payments' error code and message."""

    order_number: str
    outcome: ChargeOutcome
    transaction_id: str = ""
    code: str = ""
    message: str = ""


# An item error that means "try this order again", not "this order is refused".
UNAVAILABLE_ITEM_CODES = frozenset({"payment_unavailable"})


@dataclass(frozen=True)
class OrderToCharge:
    order_number: str
    name: str
    address: str
    price: Decimal
    payment_method: str = "card"


@dataclass(frozen=True)
class RefundResult:
    order_number: str
    transaction_id: str


@dataclass(frozen=True)
class PaymentSnapshot:
    """A payment as Payments shows it now (GET /payment/?updatedSince=): what reconciliation
    compares with the order."""

    order_number: str
    status: str
    transaction_id: str
    amount: Decimal
    payment_method: str
    updated_at: datetime


@dataclass(frozen=True)
class ChangedPage:
    payments: list[PaymentSnapshot]
    cursor: str | None  # where the next page starts; None after the last


# Most payments one page of changes holds (Payments caps pageSize at 500 too).
CHANGED_PAGE_SIZE = 500


class PaymentsClient:
    def __init__(self, *, base_url: str, token: str, timeout: tuple[float, float]):
        self.base_url = base_url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )

    def charge_batch(self, orders: list[OrderToCharge]) -> list[ChargeResult]:
        """Charge many orders in one call (POST /payment/batch); one result per order, in the
        order sent. Payments is idempotent per order number, so a batch whose outcome is
        unknown (PaymentsUnavailable) is simply sent again."""
        payload = {
            "payments": [
                {
                    "orderNumber": order.order_number,
                    "name": order.name,
                    "address": order.address,
                    "price": str(order.price),
                    "paymentMethod": order.payment_method,
                }
                for order in orders
            ]
        }
        body = self._post("/payment/batch", payload, operation="payment_batch")
        items = body.get("results")
        if not isinstance(items, list) or len(items) != len(orders):
            raise PaymentsUnavailable(f"Unexpected batch response for {len(orders)} orders")
        return [
            _batch_result(order.order_number, item)
            for order, item in zip(orders, items, strict=True)
        ]

    def refund_payment(self, *, order_number: str) -> RefundResult:
        """Give the order's payment back. Payments answers every replay with the same refund, so
        a call whose outcome is unknown is simply made again."""
        path = f"/payment/{order_number}/refund"
        try:
            body = self._post(path, None, operation="refund")
        except PaymentRefused as exc:
            if (exc.http_status, exc.payments_code) in NOTHING_TO_REFUND:
                raise NothingToRefund(
                    str(exc), http_status=exc.http_status, payments_code=exc.payments_code
                ) from exc
            raise
        transaction_id = body.get("transactionId")
        if (
            body.get("orderNumber") != order_number
            or body.get("status") != "refunded"
            or not _is_transaction_id(transaction_id)
        ):
            raise PaymentsUnavailable(f"Unexpected refund response for {order_number}: {body}")
        return RefundResult(order_number, transaction_id)

    def payments_changed_since(
        self, *, since: datetime, cursor: str | None = None, page_size: int = CHANGED_PAGE_SIZE
    ) -> ChangedPage:
        """One page of the payments created or changed at or after `since`, least recently
        changed first; pass the page's `cursor` back for the next. A read, so a call whose
        answer is lost is simply made again (PaymentsUnavailable)."""
        params = {"updatedSince": rfc_3339(since), "pageSize": page_size}
        if cursor is not None:
            params["cursor"] = cursor
        body = self._call("GET", "/payment/", operation="payments_changed", params=params)
        items, next_url = body.get("results"), body.get("next")
        if not isinstance(items, list) or not (next_url is None or isinstance(next_url, str)):
            raise PaymentsUnavailable(f"Unexpected list of changed payments: {str(body)[:200]}")
        # Only the cursor of `next`: its host is the one Payments saw, which behind a proxy
        # need not be PAYMENTS_URL.
        next_cursor = (
            parse_qs(urlsplit(next_url).query).get("cursor", [None])[0] if next_url else None
        )
        if next_url and not next_cursor:
            raise PaymentsUnavailable(f"Unexpected next page of changed payments: {next_url}")
        return ChangedPage([_snapshot(item) for item in items], next_cursor)

    def _post(self, path: str, payload: dict | None, *, operation: str) -> dict:
        # No payload: an empty body (json=None sends none).
        return self._call("POST", path, operation=operation, json=payload)

    def _call(self, method: str, path: str, *, operation: str, **send) -> dict:
        # The id of the request (or task) on whose behalf we call: Payments logs it too.
        headers = {REQUEST_ID_HEADER: value} if (value := request_id.get()) else None
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=self.timeout, headers=headers, **send
            )
        except requests.RequestException as exc:
            _observe(operation, "error", started)
            raise PaymentsUnavailable(f"Payments did not answer: {exc}") from exc
        _observe(operation, f"{response.status_code // 100}xx", started)
        if response.status_code in RETRYABLE_STATUS_CODES:
            raise PaymentsUnavailable(f"Payments answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            detail = body or response.text[:200]
            raise PaymentRefused(
                f"Payments refused {path} with {response.status_code}: {detail}",
                http_status=response.status_code,
                payments_code=body.get("code") if isinstance(body, dict) else None,
            )
        if not isinstance(body, dict):
            raise PaymentsUnavailable(f"Payments answered {path} with a non-JSON body")
        return body


def _batch_result(order_number: str, item) -> ChargeResult:
    if not isinstance(item, dict) or item.get("orderNumber") != order_number:
        raise PaymentsUnavailable(f"Unexpected batch result for {order_number}: {item}")
    error = item.get("error")
    if isinstance(error, dict):
        code, message = str(error.get("code")), str(error.get("message"))
        if code in UNAVAILABLE_ITEM_CODES:
            return ChargeResult(order_number, ChargeOutcome.UNAVAILABLE, code=code, message=message)
        return ChargeResult(order_number, ChargeOutcome.REFUSED, code=code, message=message)
    status, transaction_id = item.get("status"), item.get("transactionId")
    if status not in _DECISION_VALUES or not _is_transaction_id(transaction_id):
        # The call went through but we cannot read this result: unknown, so ask again.
        raise PaymentsUnavailable(f"Unexpected batch result for {order_number}: {item}")
    return ChargeResult(order_number, ChargeOutcome(status), transaction_id)


def rfc_3339(moment: datetime) -> str:
    """`moment` as Payments reads updatedSince: UTC, microseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _snapshot(item) -> PaymentSnapshot:
    """One payment of the list, checked whole: one we cannot read is an answer we did not get."""
    try:
        snapshot = PaymentSnapshot(
            order_number=item["orderNumber"],
            status=item["status"],
            transaction_id=item["transactionId"],
            amount=Decimal(item["price"]),
            payment_method=item["paymentMethod"],
            updated_at=datetime.fromisoformat(item["updatedAt"]),
        )
    except (TypeError, KeyError, ValueError, InvalidOperation) as exc:
        raise PaymentsUnavailable(f"Unreadable payment in the list: {str(item)[:200]}") from exc
    if (
        not isinstance(snapshot.order_number, str)
        or snapshot.status not in _DECISION_VALUES
        or not _is_transaction_id(snapshot.transaction_id)
        or not isinstance(snapshot.payment_method, str)
        or snapshot.updated_at.tzinfo is None
        or not snapshot.amount.is_finite()
    ):
        raise PaymentsUnavailable(f"Unreadable payment in the list: {str(item)[:200]}")
    return snapshot


def _observe(operation: str, result: str, started: float) -> None:
    PAYMENTS_CALL_SECONDS.labels(operation, result).observe(time.perf_counter() - started)


def _is_transaction_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TRANSACTION_ID_LENGTH


@functools.cache
def payments_client() -> PaymentsClient:
    return PaymentsClient(
        base_url=settings.PAYMENTS_URL,
        token=settings.PAYMENTS_API_TOKEN,
        timeout=(settings.PAYMENTS_CONNECT_TIMEOUT_SECONDS, settings.PAYMENTS_READ_TIMEOUT_SECONDS),
    )
