"""The one gate every change of state goes through: one order (a cancel, a test's setup) or many
(a batch of payment results, the delivery sweep). Each transition is a compare-and-set checked
against ALLOWED_TRANSITIONS and writes exactly one history row; nothing else writes history
rows. The statements themselves are in orders/db.py; they also write the webhook deliveries of
each transition that an active subscription wants (orders/webhooks/outbox.py), in the same
statement."""

import logging
from dataclasses import dataclass

from django.utils import timezone

from orders import db
from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import Order, OrderState, can_transition, sources_of
from orders.webhooks import outbox

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    """One order of orders_transition_many(): where it goes, and the history row's reason."""

    order_id: int
    to_state: str
    reason: str


def order_transition(*, order_number: str, to_state: str, reason: str) -> tuple[Order, str]:
    """Take one order to `to_state` and record it; return the order and the state it left.

    The first compare-and-set assumes the state an order usually leaves for `to_state` (the
    first of its sources in ALLOWED_TRANSITIONS), so the common transition needs no read before
    it. When it matches nothing, we read the state and, if the transition is still legal from
    there, try again from it. States only go forward, so this ends after a few rounds."""
    sources = sources_of(to_state)
    from_state = sources[0] if sources else None
    subscribers = outbox.subscribers([f"order.{to_state}"])
    for _ in range(len(OrderState) + 1):
        if from_state is not None:
            order = db.order_transition_from(
                order_number=order_number,
                from_state=from_state,
                to_state=to_state,
                reason=reason,
                now=timezone.now(),
                subscribers=subscribers,
            )
            if order is not None:
                logger.info("order %s: %s -> %s (%s)", order_number, from_state, to_state, reason)
                if subscribers:
                    outbox.wake_sender_on_commit()
                return order, from_state
        from_state = (
            Order.objects.filter(number=order_number).values_list("state", flat=True).first()
        )
        if from_state is None:
            raise OrderNotFound()
        if not can_transition(from_state, to_state):
            raise IllegalTransition(
                order_number=order_number, from_state=from_state, to_state=to_state
            )
    raise IllegalTransition(order_number=order_number, from_state=from_state, to_state=to_state)


def orders_transition_many(*, from_state: str, transitions: list[Transition]) -> set[int]:
    """Take each order of `transitions` from `from_state` to its `to_state`, all in one
    set-based compare-and-set, with one history row each; return the ids of the orders that
    changed. An order no longer in `from_state` (another transition came first) is left alone:
    the caller decides."""
    for transition in transitions:
        if not can_transition(from_state, transition.to_state):
            raise ValueError(f"{from_state} -> {transition.to_state} is not in ALLOWED_TRANSITIONS")
    if not transitions:
        return set()
    targets = sorted({f"order.{transition.to_state}" for transition in transitions})
    subscribers = outbox.subscribers(targets)
    changed = db.orders_transition_many_from(
        from_state=from_state, transitions=transitions, now=timezone.now(), subscribers=subscribers
    )
    if changed and subscribers:
        outbox.wake_sender_on_commit()
    logger.info("%d of %d orders transitioned from %s", len(changed), len(transitions), from_state)
    return changed
