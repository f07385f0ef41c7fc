"""The per-client limit of POST /order (ORDERS_CREATE_RATE_LIMIT): a token bucket per client
address (servicekit/client_address.py), kept in Redis so that every web process and every pod
draws from the same bucket.

A bucket holds `quota` tokens and gains quota ÷ window a second; each POST takes one, and one
that finds none is refused with a 429. "20/s" takes a burst of 20 at once, then 20 a second.
One Lua script reads, refills, takes and writes the bucket atomically, in one round trip; the
caller's clock is its argument (the script then does the same thing wherever it runs, and tests
can set the time), and a bucket left alone for a window expires: a missing bucket is a full one.

The answer carries the RateLimit and RateLimit-Policy fields of the IETF draft
draft-ietf-httpapi-ratelimit-headers-10 (September 2025), a policy named by a quoted string:
`RateLimit-Policy: "create";q=20;w=1` and `RateLimit: "create";r=<tokens left>;t=<s>`,
t being the seconds until the bucket is full again, or on a 429 until the next token, the same
moment as Retry-After.

When Redis does not answer, the order is taken unchecked (fail open). Orders takes orders while
its Redis is down (the order row is the outbox; the re-drive charges them once Redis is back):
a limit that refused them then would turn the loss of a safeguard against one greedy client
into an outage for every client. The miss is logged and counted (orders_create_rate_limit_total,
outcome "unchecked"), and Redis is left alone for a second, so that a Redis that hangs costs
one timeout a second per process rather than one per order."""

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from orders.metrics import RATE_LIMIT
from servicekit.client_address import client_address
from servicekit.env import Rate

logger = logging.getLogger(__name__)

KEY_PREFIX = "orders:rate-limit:create:"
POLICY = "create"
# After Redis failed to answer, the checks it would have made are skipped this long.
PAUSE_AFTER_FAILURE_SECONDS = 1.0

# KEYS[1]: the bucket; ARGV: quota, window in ms, now in ms. Returns {taken (1 or 0), whole
# tokens left, ms until the bucket is full (taken) or holds a token (not taken)}.
_BUCKET_SCRIPT = """
local quota = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or quota
local at = tonumber(bucket[2]) or now
if now > at then
  tokens = math.min(quota, tokens + (now - at) * quota / window_ms)
  at = now
end
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], window_ms)
local wait_ms
if taken == 1 then
  wait_ms = (quota - tokens) * window_ms / quota
else
  wait_ms = (1 - tokens) * window_ms / quota
end
return {taken, math.floor(tokens), math.ceil(wait_ms)}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    # Seconds until the bucket is full again (allowed) or holds a token (refused), rounded up.
    reset_seconds: int
    rate: Rate

    def headers(self) -> dict[str, str]:
        """The draft's fields (module docstring), plus Retry-After on a refusal."""
        headers = {
            "RateLimit-Policy": f'"{POLICY}";q={self.rate.quota};w={self.rate.window_seconds}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def now_ms() -> int:
    """The bucket's clock, in milliseconds."""
    return int(time.time() * 1000)


@functools.cache
def _bucket_script():
    # The broker's Redis. Short timeouts: a check that waits longer costs more than it saves.
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25
    )
    # EVALSHA, and EVAL with the text only the first time a server has not seen the script.
    return client.register_script(_BUCKET_SCRIPT)


class _Pause:
    """Until when this process leaves Redis alone after a failure (module docstring)."""

    lock = threading.Lock()
    until = 0.0


def order_create_verdict(meta) -> Verdict | None:
    """Take a token for a POST /order from the client of `meta` (a request's META). None: no
    limit applies, because ORDERS_CREATE_RATE_LIMIT is 0 or Redis did not answer."""
    rate = settings.ORDERS_CREATE_RATE_LIMIT
    if rate is None:
        return None
    if time.monotonic() < _Pause.until:
        RATE_LIMIT.labels("unchecked").inc()
        return None
    try:
        taken, remaining, wait_ms = _bucket_script()(
            keys=[KEY_PREFIX + client_address(meta)],
            args=[rate.quota, rate.window_seconds * 1000, now_ms()],
        )
    except redis.RedisError:
        RATE_LIMIT.labels("unchecked").inc()
        with _Pause.lock:
            first = time.monotonic() >= _Pause.until
            _Pause.until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
        if first:  # one line per pause, not one per order
            logger.warning(
                "rate limit unchecked: Redis did not answer; orders are taken without it",
                exc_info=True,
            )
        return None
    if not taken:
        RATE_LIMIT.labels("limited").inc()
    return Verdict(
        allowed=bool(taken),
        remaining=remaining,
        reset_seconds=math.ceil(wait_ms / 1000),  # at least 1 on a refusal: no token yet
        rate=rate,
    )
