"""Who holds a charger's claim, and giving back the claims of workers that are gone.

A charger claims orders (orders/charging.py) by moving their payment_requested_at
ORDERS_PAYMENT_STUCK_AFTER_SECONDS ahead, and writes who claims them: the worker's node name and
its run, a token drawn when the worker process starts. A worker SIGKILLed mid-batch leaves its
claims behind; they would expire only with that clock. So when a worker becomes ready, it gives
back the claims of the runs that are gone: the earlier runs of its own node name (a supervisor,
Docker or Kubernetes restarted it in place; a node name is unique among running workers) and the
node names no worker answers a ping for any more. Those orders are due again at once and the
charger is woken.

Never two charges: an order given back while it was in fact still being charged (a worker that
missed the ping) is sent to Payments twice, and Payments stores one payment per order number
and answers the second call with it; its result then takes the order through the gate once."""

import logging
import secrets

from django.utils import timezone

from config.celery_app import app
from orders import wake_up
from orders.models import Order, OrderState

logger = logging.getLogger(__name__)

# This process's run, set at the worker's start (before a prefork pool forks: its processes
# share it). Empty outside a worker: such claims are left to their clock.
_run = {"node": "", "token": ""}


def claimant_start(*, node: str) -> None:
    """Called once as the worker process starts: draw this run's token."""
    _run.update(node=node, token=secrets.token_hex(6))


def claimant() -> str:
    """What a claim made in this process records: "<node name> <run token>", or ""."""
    return f"{_run['node']} {_run['token']}" if _run["node"] else ""


def orders_release_claims_of_gone_workers(*, ready: str, live_nodes: set[str]) -> int:
    """Give back the claims held by worker runs that are gone, now that the run `ready` (a
    claimant() value) is up and `live_nodes` answered a ping; wake the charger for them. Return
    how many orders were given back.

    A run is gone if its node name is `ready`'s, or this process's, with another token, or if
    no running worker has its node name."""
    now = timezone.now()
    claimed = Order.objects.filter(state=OrderState.CREATED, payment_requested_at__gt=now)
    holders = set(
        claimed.exclude(payment_claimed_by="")
        .values_list("payment_claimed_by", flat=True)
        .distinct()
    )
    gone = gone_runs(holders, ready=ready, live_nodes=live_nodes)
    if not gone:
        return 0
    # A compare-and-set on the holder: an order claimed again meanwhile (by a live run) stays.
    released = claimed.filter(payment_claimed_by__in=gone).update(
        payment_requested_at=now, payment_claimed_by=""
    )
    if released:
        logger.warning(
            "gave back %d orders claimed by worker runs that are gone (%s): waking the charger",
            released,
            ", ".join(sorted(gone)),
        )
        # The dead run may have held the wake-up guard as it died: never let it swallow this one.
        wake_up.release_wake_up()
        wake_up.wake_charger()
    return released


# Long enough for a busy worker's main loop to answer; a worker that misses it only has its
# orders sent again, which Payments answers from what it stored (see above).
LIVE_WORKERS_PING_SECONDS = 2.0


def live_workers(*, timeout: float) -> set[str]:
    """The node names of the workers that answer a ping over the broker within `timeout`."""
    return {node for reply in app.control.ping(timeout=timeout) for node in reply}


def gone_runs(holders, *, ready: str, live_nodes: set[str]) -> list[str]:
    """The claimants of `holders` whose run is gone (see above): the webhook sender's claims
    (orders/webhooks/sender.py) are given back by the same rule."""
    current = dict(run.split(" ", 1) for run in (ready, claimant()) if run)
    return [holder for holder in holders if _is_gone(holder, current, live_nodes)]


def _is_gone(holder: str, current: dict[str, str], live_nodes: set[str]) -> bool:
    node, _, token = holder.partition(" ")
    if node in current:
        return token != current[node]
    return node not in live_nodes
