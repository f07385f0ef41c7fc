"""The sender: claims the deliveries that are due, sends them (signed, a few at a time per
endpoint, over kept-alive connections) and records each answer.

A delivery is due at its next_attempt_at, and only once every earlier change of its order is
delivered or given up for the same subscription: one order's messages reach an endpoint in
sequence order. A claim's deliveries to one endpoint are a round: orders/webhooks/addresses.py
checks the endpoint's address once before it, and its requests go through urllib3 to that
address, over one connection pool per endpoint (kept alive, ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY
connections at most), from sending threads kept by the process: urllib3 rather than requests,
which costs twice the CPU per request and would add nothing used here. Claiming moves
next_attempt_at to the end of a lease and records the worker run (orders/claims.py), with SKIP
LOCKED on PostgreSQL, so that several senders never send one delivery at once; the claims of a
sender whose worker died are given back when a worker restarts, or when the lease ends. A
delivery may so be sent twice (at-least-once): receivers de-duplicate on its id.

Any 2xx is delivered. 410 Gone gives the delivery up and disables the subscription. Anything
else (another status, a redirect, a timeout, a refused address) is retried after the next wait
of ORDERS_WEBHOOK_RETRY_SCHEDULE, with jitter; after the last, the delivery is given up and the
subscription disabled, the reason recorded on it."""

import logging
import math
import os
import random
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from orders import claims, db, wake_up
from orders.metrics import WEBHOOK_DELIVERIES
from orders.webhooks import addresses, outbox, payloads, services, signing
from orders.webhooks.models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

# How long one sender task runs before it hands over to a fresh wake-up (as the charger does).
SENDER_RUN_SECONDS = 20
# The first bytes of an answer kept on the delivery (the admin shows them).
ANSWER_BYTES = 200
# An answer's body is read up to this much, so that the connection can be used again.
READ_AT_MOST = 64 * 1024
USER_AGENT = "Orders-Webhooks/1"

# What each attempt came to (orders_webhook_deliveries_total's label).
DELIVERED, RETRYING, GAVE_UP, GONE = "delivered", "retrying", "gave_up", "gone"


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer
    text: str  # the first bytes of the body, or why there was no answer


def claim_lease() -> timedelta:
    """Long enough to send a whole claim to one slow endpoint: every request timing out, a few
    at a time."""
    rounds = math.ceil(
        settings.ORDERS_WEBHOOK_BATCH_SIZE / settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY
    )
    per_request = (
        settings.ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS
        + settings.ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS
    )
    return timedelta(seconds=rounds * per_request + 10)


def deliveries_send_due() -> int:
    """Send what is due, a claim at a time, until nothing is; return how many were delivered.
    The wake-up guard stands while this runs, as the charger's does (orders/wake_up.py)."""
    deadline = time.monotonic() + SENDER_RUN_SECONDS
    delivered = 0
    while True:
        batch = _claim()
        if not batch:
            _release_guard()
            if not (batch := _claim()):
                return delivered
        _hold_guard()
        delivered += _send_all(batch)
        if time.monotonic() > deadline:
            _release_guard()
            outbox.wake_sender()
            return delivered


def _hold_guard() -> None:
    wake_up.hold(
        key=outbox.SENDER_WAKE_UP_GUARD_KEY, guard_ms=settings.ORDERS_WEBHOOK_WAKE_UP_GUARD_MS
    )


def _release_guard() -> None:
    wake_up.release(key=outbox.SENDER_WAKE_UP_GUARD_KEY)


def _due(now):
    """The deliveries that may be sent now: pending, due, to an active subscription, and the
    first still pending of their order for their subscription. A claim takes them with
    orders/db.py's statement, which says the same in SQL."""
    earlier = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"),
        order=OuterRef("order"),
        status=DeliveryStatus.PENDING,
        sequence__lt=OuterRef("sequence"),
    )
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, subscription__active=True
    ).filter(~Exists(earlier))


def _claim() -> list[db.ClaimedDelivery]:
    now = timezone.now()
    return db.webhook_deliveries_claim(
        due_by=now,
        claimed_until=now + claim_lease(),
        claimant=claims.claimant(),
        limit=settings.ORDERS_WEBHOOK_BATCH_SIZE,
    )


class _Round:
    """One endpoint's deliveries of one claim. Its lanes (at most
    ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY) take them in turn, each sending one at a time; the
    first lane to start checks the endpoint's address for the whole round, the others wait for
    that check."""

    def __init__(self, pending: list[tuple[db.ClaimedDelivery, bytes]]):
        first = pending[0][0]
        self.subscription_id, self.url, self.secret = first.subscription_id, first.url, first.secret
        self.parts = urllib3.util.parse_url(self.url)
        self.headers = {
            "host": self.parts.netloc,  # the name, whichever address the pool connects to
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        self.pending = deque(pending)
        self._lock = threading.Lock()
        self._ready: tuple[str | None, urllib3.HTTPConnectionPool | None] | None = None

    def ready(self) -> tuple[str | None, urllib3.HTTPConnectionPool | None]:
        """(why the endpoint is refused this round, None) or (None, its pool)."""
        with self._lock:
            if self._ready is None:
                refusal, address = addresses.checked_address(self.url)
                pool = None if refusal else _pool(self.subscription_id, self.url, address)
                self._ready = (refusal, pool)
            return self._ready


def _send_all(batch: list[db.ClaimedDelivery]) -> int:
    """Send a claim: the bodies are rendered here, the requests go out from the process's
    sending threads, a few lanes per endpoint, and the answers are recorded here (the database is
    this thread's)."""
    by_subscription = defaultdict(list)
    for delivery in batch:
        by_subscription[delivery.subscription_id].append((delivery, payloads.body_of(delivery)))
    lanes = []
    for pending in by_subscription.values():
        round_ = _Round(pending)
        lanes += [round_] * min(len(pending), settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY)
    if len(lanes) == 1:
        sent = _lane(lanes[0])
    else:
        sent = [pair for pairs in _sending_threads().map(_lane, lanes) for pair in pairs]
    return _record(sent)


def _lane(round_: _Round) -> list[tuple[db.ClaimedDelivery, Answer]]:
    """Send the round's deliveries one at a time until none is left. No database here."""
    refusal, pool = round_.ready()
    sent = []
    while True:
        try:
            delivery, body = round_.pending.popleft()
        except IndexError:
            return sent
        if refusal:
            sent.append((delivery, Answer(None, f"refused: {refusal}")))
        else:
            sent.append((delivery, _post(round_, pool, delivery, body)))


# The threads that send, one pool per process, made on first use and kept: a pool per claim
# started and ended its threads every claim. As many threads as one claim can use (a lane per
# delivery at most), started only when that many lanes run at once; the sender runs of a
# process (a worker's threads) share them.
_sending: dict[str, ThreadPoolExecutor | None] = {"threads": None}
_sending_lock = threading.Lock()


def _sending_threads() -> ThreadPoolExecutor:
    with _sending_lock:
        if _sending["threads"] is None:
            _sending["threads"] = ThreadPoolExecutor(
                max_workers=settings.ORDERS_WEBHOOK_BATCH_SIZE, thread_name_prefix="webhook"
            )
        return _sending["threads"]


# One connection pool per endpoint and process, to the address checked last: its connections
# are kept alive between deliveries.
_pools: dict[tuple[int, str], tuple[str | None, urllib3.HTTPConnectionPool]] = {}
_pools_lock = threading.Lock()


def _forget_after_fork() -> None:
    """In a forked child, the parent's sending threads do not run and its connections are the
    parent's: the child makes its own."""
    # New locks: a thread of the parent's that held one at the fork never releases it here.
    global _sending_lock, _pools_lock
    _sending_lock, _pools_lock = threading.Lock(), threading.Lock()
    _sending["threads"] = None
    _pools.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _pool(subscription_id: int, url: str, address: str | None) -> urllib3.HTTPConnectionPool:
    """The endpoint's pool, connected to `address` (None: to the URL's host name)."""
    key = (subscription_id, url)
    with _pools_lock:
        known = _pools.get(key)
        if known is not None and known[0] == address:
            return known[1]
        if known is not None:
            known[1].close()  # the name resolves elsewhere now: no connection to the old one
        parts = urllib3.util.parse_url(url)
        options = {
            "port": parts.port,
            "maxsize": settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY,
            "block": True,
            "retries": False,
            "timeout": urllib3.Timeout(
                connect=settings.ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
                read=settings.ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS,
            ),
        }
        if parts.scheme == "https":
            # Pinned to the address, the certificate is still checked for the host name.
            pool = urllib3.HTTPSConnectionPool(
                address or parts.host,
                server_hostname=parts.host,
                assert_hostname=parts.host,
                **options,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address or parts.host, **options)
        _pools[key] = (address, pool)
        return pool


def _post(
    round_: _Round, pool: urllib3.HTTPConnectionPool, delivery: db.ClaimedDelivery, body: bytes
) -> Answer:
    """One attempt; never raises."""
    headers = {
        **round_.headers,
        **signing.headers(
            secret=round_.secret,
            message_id=delivery.message_id,
            timestamp=int(time.time()),
            body=body,
        ),
    }
    try:
        response = pool.urlopen(
            "POST",
            round_.parts.request_uri,
            body=body,
            headers=headers,
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # The exception's class, not its text: a URL in it could carry a query string secret.
        return Answer(None, f"no answer: {type(exc).__name__}")
    try:
        head = response.read(READ_AT_MOST)
        if response.read(1):  # more than we read: the connection cannot be used again
            response.close()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        return Answer(None, f"no answer: {type(exc).__name__}")
    finally:
        response.release_conn()
    return Answer(response.status, head[:ANSWER_BYTES].decode("utf-8", errors="replace"))


def _record(sent: list[tuple[db.ClaimedDelivery, Answer]]) -> int:
    """Write what each attempt came to; return how many were delivered. The delivered ones
    in one UPDATE per distinct answer (usually one)."""
    now = timezone.now()
    delivered = defaultdict(list)
    for delivery, answer in sent:
        if answer.status_code is not None and 200 <= answer.status_code < 300:
            delivered[(answer.status_code, answer.text)].append(delivery.id)
        else:
            _record_failure(delivery, answer, now)
    for (status_code, text), ids in delivered.items():
        WebhookDelivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.DELIVERED,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            last_status_code=status_code,
            last_response=text,
            delivered_at=now,
            claimed_by="",
        )
    count = sum(len(ids) for ids in delivered.values())
    if count:
        WEBHOOK_DELIVERIES.labels(DELIVERED).inc(count)
    return count


def _record_failure(delivery: db.ClaimedDelivery, answer: Answer, now) -> None:
    attempts = delivery.attempts + 1
    schedule = settings.ORDERS_WEBHOOK_RETRY_SCHEDULE
    fields = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": answer.status_code,
        "last_response": answer.text[:ANSWER_BYTES],
        "claimed_by": "",
    }
    if answer.status_code == 410:
        outcome = GONE
        # The host only: a URL's path or query string may carry the receiver's own secret, and
        # the reason is logged and shown in the admin.
        host = urlsplit(delivery.url).hostname
        reason = f"410 Gone from {host} for {delivery.message_id} at {now:%Y-%m-%d %H:%M:%S}Z"
    elif attempts > len(schedule):
        outcome = GAVE_UP
        reason = (
            f"{delivery.message_id} failed {attempts} attempts over the whole retry schedule; "
            f"the last: {_describe(answer)}"
        )
    else:
        outcome = RETRYING
        # Jitter: endpoints that failed together are not all tried again at the same second.
        wait = schedule[attempts - 1] * random.uniform(0.9, 1.1)
        fields["next_attempt_at"] = now + timedelta(seconds=wait)
        reason = ""
    if reason:
        fields["status"] = DeliveryStatus.FAILED
    WebhookDelivery.objects.filter(pk=delivery.id).update(**fields)
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    logger.warning(
        "webhook %s (%s) to subscription %s: attempt %d: %s%s",
        delivery.message_id,
        delivery.event_type,
        delivery.subscription_id,
        attempts,
        _describe(answer),
        f"; gave up: {reason}" if reason else "",
    )
    if reason:
        services.subscription_disable(delivery.subscription_id, reason=reason)


def _describe(answer: Answer) -> str:
    if answer.status_code is None:
        return answer.text
    return f"HTTP {answer.status_code}"


def deliveries_redrive(*, now=None) -> int:
    """Wake the sender if deliveries are due (a retry's time came, a wake-up was lost, a
    claim's lease ended); return how many are due."""
    due = _due(now or timezone.now()).count()
    if due:
        outbox.wake_sender()
    return due


def deliveries_release_claims_of_gone_workers(*, ready: str, live_nodes: set[str]) -> int:
    """Give back the deliveries claimed by worker runs that are gone (orders/claims.py's rule):
    due again at once, and the sender woken. Return how many."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__gt=now)
    holders = set(claimed.exclude(claimed_by="").values_list("claimed_by", flat=True).distinct())
    gone = claims.gone_runs(holders, ready=ready, live_nodes=live_nodes)
    if not gone:
        return 0
    released = claimed.filter(claimed_by__in=gone).update(next_attempt_at=now, claimed_by="")
    if released:
        logger.warning(
            "gave back %d webhook deliveries claimed by worker runs that are gone", released
        )
        _release_guard()  # the dead run may have held it
        outbox.wake_sender()
    return released
