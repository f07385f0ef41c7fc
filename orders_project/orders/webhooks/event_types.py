"""The event types, from the code: one per state an order can enter (order.<state>, from
OrderState) and one per kind of order event written today (order.<kind>, from events.BUILDERS).
docs/webhooks.md lists them; tests/orders/test_webhooks_event_types.py keeps the two the same."""

from orders import events
from orders.models import OrderState

# A message an operator sends from the admin to try an endpoint: about no order.
TEST = "webhook.test"


def of_state(state: str) -> str:
    return f"order.{state}"


def of_event_kind(kind: str) -> str:
    return f"order.{kind}"


STATE_TYPES = tuple(of_state(state) for state in OrderState.values)
EVENT_TYPES = tuple(of_event_kind(kind) for kind in events.BUILDERS)
ALL = STATE_TYPES + EVENT_TYPES
