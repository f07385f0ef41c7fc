"""The life of an order: creation, cancellation, and the payment results applied to it. Every
change of state goes through orders/transitions.py."""

import logging
import secrets
from collections import Counter
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders import db, events, refunds, transitions, wake_up
from orders.clients import DECISIONS, ChargeOutcome, ChargeResult
from orders.metrics import PAYMENT_RESULTS
from orders.models import (
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    Order,
    OrderState,
    OrderStateChange,
)
from orders.webhooks import outbox

logger = logging.getLogger(__name__)


ORDER_NUMBER_ATTEMPTS = 5


def order_number_generate() -> str:
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def order_create(*, name: str, address: str, price: Decimal, payment_method: str = "card") -> Order:
    """Write the order and its first history row; once committed, wake the charger. The order
    row is the payment's outbox: no message per order."""

    subscribers = outbox.subscribers([f"order.{OrderState.CREATED}"])
    for _ in range(ORDER_NUMBER_ATTEMPTS):
        now = timezone.now()
        order = Order(
            number=order_number_generate(),
            name=name,
            address=address,
            price=price,
            payment_method=payment_method,
            state=OrderState.CREATED,
            state_changed_at=now,
            payment_requested_at=now,
            created_at=now,
            updated_at=now,
        )
        # 36^8 numbers make a clash rare; the unique index catches it, a new draw fixes it.
        if not db.order_insert_with_history(order, reason="order created", subscribers=subscribers):
            logger.warning("order number %s already taken, drawing another", order.number)
            continue
        # The charger, and the webhook sender if the order is sent to a subscriber: their guards
        # in one round trip to Redis. With the broker down the order still stands (and the
        # client gets its 201); the re-drive sweeps wake them later.
        wake_ups = [wake_up.charger_wake_up()]
        if subscribers:
            wake_ups.append(outbox.sender_wake_up())
        wake_up.wake_all_on_commit(wake_ups)
        logger.info("order %s: created", order.number)
        return order
    raise RuntimeError(f"no free order number after {ORDER_NUMBER_ATTEMPTS} attempts")


def order_cancel(*, order_number: str, operator: str | None = None) -> Order:
    """Cancel for the customer, or for an `operator` (the admin user's name, recorded as an
    event), and in the same transaction make sure no charge stays behind.

    From `confirmed` the payment was taken: its refund is queued at once. From `created` a
    charge may exist that Orders never heard of (the payment call timed out, and its retry now
    sees the cancel and stops asking): a refund is marked due but not queued, so the re-drive
    sweep sends it after ORDERS_PAYMENT_STUCK_AFTER_SECONDS, once any call in flight has ended.
    Payments then refunds the charge, or answers that there is none (recorded, nothing more)."""
    with transaction.atomic():
        order, from_state = transitions.order_transition(
            order_number=order_number,
            to_state=OrderState.CANCELLED,
            reason="cancelled by customer" if operator is None else "cancelled by an operator",
        )
        if operator is not None:
            events.record(
                order=order,
                event=events.cancelled_by_operator(operator=operator, from_state=from_state),
            )
        refunds.order_refund_request(order=order, queue=from_state == OrderState.CONFIRMED)
    order.refresh_from_db()
    return order


PAYMENT_STATUS_TO_STATE = {
    ChargeOutcome.CONFIRMED: OrderState.CONFIRMED,
    ChargeOutcome.DECLINED: OrderState.CANCELLED,
    # Only a replay can answer this (the order was cancelled and refunded since): nothing is
    # charged, so the order cannot be confirmed; it is recorded like any late result.
    ChargeOutcome.REFUNDED: OrderState.CANCELLED,
}


def _payment_reason(result: ChargeResult) -> str:
    return f"payment {result.outcome} ({result.transaction_id})"


def orders_apply_payment_results(*, results: list[ChargeResult]) -> set[str]:
    """Apply Payments' decisions (results whose outcome is one of DECISIONS): one set-based
    compare-and-set from `created` for the whole batch. An order that left `created` meanwhile
    is looked at alone (rare): a repeat of a result already applied changes nothing; a result
    after the customer cancelled is recorded as an event, and a confirmed charge is refunded.
    Return the numbers of the orders this call took out of `created`."""
    if not results:
        return set()
    if undecided := [result for result in results if result.outcome not in DECISIONS]:
        raise ValueError(f"not decisions: {undecided}")
    by_number = {result.order_number: result for result in results}
    ids = dict(Order.objects.filter(number__in=by_number).values_list("number", "id"))
    changes = [
        transitions.Transition(
            order_id=ids[number],
            to_state=PAYMENT_STATUS_TO_STATE[result.outcome],
            reason=_payment_reason(result),
        )
        for number, result in by_number.items()
        if number in ids
    ]
    changed = transitions.orders_transition_many(from_state=OrderState.CREATED, transitions=changes)
    applied = Counter(by_number[number].outcome for number, id_ in ids.items() if id_ in changed)
    for outcome, count in applied.items():
        PAYMENT_RESULTS.labels(outcome).inc(count)
    for number, result in by_number.items():
        if number in ids and ids[number] not in changed:
            _order_apply_late_result(order_id=ids[number], result=result)
    return {number for number, id_ in ids.items() if id_ in changed}


def order_apply_payment_result(
    *, order_number: str, payment_status: str, transaction_id: str
) -> Order:
    """Apply one decision (a batch of one); return the order as it is now."""
    orders_apply_payment_results(
        results=[ChargeResult(order_number, ChargeOutcome(payment_status), transaction_id)]
    )
    return Order.objects.get(number=order_number)


def _order_apply_late_result(*, order_id: int, result: ChargeResult) -> None:
    """A decision for an order that had left `created` before it arrived."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(id=order_id)
        # A decline that finds the order cancelled is a repeat only if it did the cancelling;
        # after a cancel by the customer it is a late result like a confirmation.
        applied = OrderStateChange.objects.filter(order=order, reason=_payment_reason(result))
        if order.state != OrderState.CANCELLED or applied.exists():
            return  # the same result applied twice (a batch sent again): nothing more to do
        # The customer cancelled while the payment was in flight: the cancel stands, and the
        # late result is recorded so that nobody has to guess what happened. A late
        # confirmation charged a cancelled order: its refund is queued with the event.
        recorded = events.record_once(
            order=order,
            event=events.payment_after_cancellation(
                outcome=result.outcome, transaction_id=result.transaction_id
            ),
        )
        if recorded and result.outcome == ChargeOutcome.CONFIRMED:
            refunds.order_refund_request(order=order, queue=True)
    if recorded:
        logger.info("order %s: payment %s after cancellation", order.number, result.outcome)
