"""The per-client limit of POST /order (orders/ratelimit.py): a token bucket per client in the
test run's Redis (settings.REDIS_URL), on both ways a POST is answered, with the draft's headers.
"""

import logging
import runpy
import uuid

import pytest

import config.settings
from orders import ratelimit
from orders.models import Order
from servicekit.env import Rate

pytestmark = pytest.mark.django_db

BODY = {"name": "Ada", "address": "1 Loop Road", "price": "12.50"}
PEER = "198.51.100.7"
METRIC = "orders_create_rate_limit_total"


class Clock:
    """The bucket's clock (ratelimit.now_ms), moved by the test instead of by waiting."""

    def __init__(self):
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit, "now_ms", clock)
    return clock


@pytest.fixture
def limit(settings, monkeypatch, clock):
    """Turn the limit on at `rate`; each test's buckets are keys of its own in the shared Redis,
    and no pause is left over from another test's unreachable Redis."""
    monkeypatch.setattr(ratelimit, "KEY_PREFIX", f"{ratelimit.KEY_PREFIX}test-{uuid.uuid4().hex}:")
    monkeypatch.setattr(ratelimit._Pause, "until", 0.0)
    ratelimit._bucket_script.cache_clear()

    def set_limit(rate: Rate | None, *, hops: int = 0) -> None:
        settings.ORDERS_CREATE_RATE_LIMIT = rate
        settings.TRUSTED_PROXY_HOPS = hops

    yield set_limit
    ratelimit._bucket_script.cache_clear()  # a test may have pointed it at another Redis


def post(api_client, *, peer: str = PEER, forwarded: str | None = None, **headers):
    extra = {"REMOTE_ADDR": peer, **headers}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return api_client.post("/order", BODY, format="json", **extra)


def statuses(api_client, count: int, **kwargs) -> list[int]:
    return [post(api_client, **kwargs).status_code for _ in range(count)]


# --- the bucket ---------------------------------------------------------------------------------


def test_rate_limit_takes_a_burst_of_the_quota_then_refuses(api_client, limit):
    limit(Rate(3, 1))

    answers = [post(api_client) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert [answer["RateLimit"] for answer in answers] == [
        '"create";r=2;t=1',
        '"create";r=1;t=1',
        '"create";r=0;t=1',
        '"create";r=0;t=1',
    ]
    assert {answer["RateLimit-Policy"] for answer in answers} == {'"create";q=3;w=1'}
    assert Order.objects.count() == 3


def test_rate_limit_refills_at_the_quota_per_window(api_client, limit, clock):
    limit(Rate(3, 1))
    assert statuses(api_client, 4) == [201, 201, 201, 429]

    clock.advance(0.34)  # a third of the window: one token
    assert statuses(api_client, 2) == [201, 429]

    clock.advance(5)  # a bucket holds the quota at most, however long it waits
    assert statuses(api_client, 4) == [201, 201, 201, 429]


def test_rate_limit_retry_after_is_rounded_up_to_a_whole_second(api_client, limit, clock):
    limit(Rate(1, 60))
    assert post(api_client).status_code == 201

    clock.advance(59.5)
    refused = post(api_client)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused["RateLimit"] == '"create";r=0;t=1'  # the same moment as Retry-After
    assert refused["RateLimit-Policy"] == '"create";q=1;w=60'


def test_rate_limit_keeps_a_bucket_per_client(api_client, limit):
    limit(Rate(2, 1))

    assert statuses(api_client, 3, peer="192.0.2.1") == [201, 201, 429]
    assert statuses(api_client, 3, peer="192.0.2.2") == [201, 201, 429]
    assert statuses(api_client, 1, peer="2001:db8::1") == [201]


# --- whose address: X-Forwarded-For and the trusted proxies ---------------------------------


def test_rate_limit_ignores_x_forwarded_for_without_trusted_proxies(api_client, limit):
    limit(Rate(2, 1), hops=0)

    # A client that makes up a new address for each request still has one bucket: its own.
    got = [post(api_client, forwarded=f"203.0.113.{n}").status_code for n in range(3)]

    assert got == [201, 201, 429]


def test_rate_limit_counts_the_address_one_trusted_proxy_saw(api_client, limit):
    limit(Rate(2, 1), hops=1)
    proxy = "10.0.0.5"

    # The proxy appends the address it saw; whatever the client sent before it is ignored.
    first = [
        post(api_client, peer=proxy, forwarded=f"{spoofed}, 203.0.113.1").status_code
        for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3")
    ]
    second = statuses(api_client, 1, peer=proxy, forwarded="203.0.113.2")

    assert first == [201, 201, 429]
    assert second == [201]


def test_rate_limit_counts_the_address_the_outer_of_two_proxies_saw(api_client, limit):
    limit(Rate(2, 1), hops=2)
    inner, outer = "10.0.0.5", "10.0.1.9"

    first = statuses(api_client, 3, peer=inner, forwarded=f"evil, 203.0.113.1, {outer}")
    second = statuses(api_client, 1, peer=inner, forwarded=f"203.0.113.2, {outer}")
    # Fewer entries than proxies: the furthest one a trusted proxy wrote.
    short = statuses(api_client, 1, peer=inner, forwarded="203.0.113.1")

    assert first == [201, 201, 429]
    assert second == [201]
    assert short == [429]


def test_rate_limit_counts_the_peer_when_a_trusted_proxy_sent_no_header(api_client, limit):
    limit(Rate(1, 1), hops=1)

    assert statuses(api_client, 2, peer="192.0.2.9") == [201, 429]
    assert statuses(api_client, 1, peer="192.0.2.9", forwarded="203.0.113.1") == [201]


# --- the answer -----------------------------------------------------------------------------


def test_rate_limited_answer_is_the_error_shape_with_retry_after(api_client, limit):
    limit(Rate(1, 1))
    post(api_client)

    refused = post(api_client)

    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert refused.json() == {
        "code": "rate_limited",
        "message": "Too many orders from this client; retry in 1 s.",
        "errors": {},
    }
    assert refused["Retry-After"] == "1"
    assert refused["RateLimit-Policy"] == '"create";q=1;w=1'
    assert refused["RateLimit"] == '"create";r=0;t=1'
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_IDEMPOTENCY_KEY": "k-1"}, {"HTTP_ACCEPT": "application/json; indent=4"}],
    ids=["fast-path", "idempotency-key", "drf-negotiation"],
)
def test_rate_limit_applies_to_both_ways_a_post_is_answered(api_client, limit, headers):
    limit(Rate(1, 1))

    first = post(api_client, **headers)
    second = post(api_client, **headers)

    assert first.status_code == 201
    assert first["RateLimit"] == '"create";r=0;t=1'
    assert second.status_code == 429
    assert second.json()["code"] == "rate_limited"


def test_rate_limit_counts_a_refused_body_too(api_client, limit):
    limit(Rate(1, 1))

    invalid = api_client.post("/order", {"name": "Ada"}, format="json", REMOTE_ADDR=PEER)

    assert invalid.status_code == 400
    assert post(api_client).status_code == 429


def test_rate_limit_leaves_other_methods_alone(api_client, limit):
    limit(Rate(1, 1))
    post(api_client)

    listed = api_client.get("/order", REMOTE_ADDR=PEER)

    assert listed.status_code == 200
    assert "RateLimit" not in listed


def test_rate_limit_refusals_are_counted(api_client, limit, scrape):
    limit(Rate(1, 1))
    before = scrape()

    statuses(api_client, 3)

    assert scrape().change_since(before, METRIC, outcome="limited") == 2


# --- off, and fail-open ---------------------------------------------------------------------


def test_rate_limit_off_when_zero(api_client, limit):
    limit(None)

    answers = [post(api_client) for _ in range(30)]

    assert {answer.status_code for answer in answers} == {201}
    assert not any("RateLimit" in answer for answer in answers)


def test_rate_limit_fails_open_when_redis_is_unreachable(
    api_client, limit, settings, scrape, caplog
):
    limit(Rate(1, 1))
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # a port nobody listens on
    before = scrape()

    with caplog.at_level(logging.WARNING, logger="orders.ratelimit"):
        got = statuses(api_client, 3)

    assert got == [201, 201, 201]
    assert Order.objects.count() == 3
    assert scrape().change_since(before, METRIC, outcome="unchecked") == 3
    # One line for the outage, not one per order: the later checks wait out the pause.
    warnings = [r for r in caplog.records if r.name == "orders.ratelimit"]
    assert [r.getMessage() for r in warnings] == [
        "rate limit unchecked: Redis did not answer; orders are taken without it"
    ]


def test_rate_limit_checks_again_after_the_pause(api_client, limit, settings, monkeypatch):
    limit(Rate(1, 1))
    working = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert statuses(api_client, 1) == [201]  # unchecked; the pause starts

    settings.REDIS_URL = working  # Redis is back...
    ratelimit._bucket_script.cache_clear()
    during = post(api_client)
    monkeypatch.setattr(ratelimit._Pause, "until", 0.0)  # ...and then the pause is over
    after = [post(api_client) for _ in range(2)]

    assert during.status_code == 201
    assert "RateLimit" not in during  # not asked during the pause
    assert [answer.status_code for answer in after] == [201, 429]


# --- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "rate"),
    [({"DJANGO_ENV": "local"}, None), ({"DJANGO_ENV": "production"}, Rate(20, 1))],
)
def test_rate_limit_is_off_locally_and_20_a_second_elsewhere(monkeypatch, tmp_path, env, rate):
    monkeypatch.setenv("ORDERS_VAR_DIR", str(tmp_path))
    for name, value in {**env, "ORDERS_SECRET_KEY": "s", "PAYMENTS_API_TOKEN": "t"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ORDERS_CREATE_RATE_LIMIT", raising=False)
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)

    assert runpy.run_path(config.settings.__file__)["ORDERS_CREATE_RATE_LIMIT"] == rate
