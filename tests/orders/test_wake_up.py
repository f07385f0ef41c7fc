"""wake_up.wake_charger: at most one wake-up of the charger pending, held by a key with a TTL in
the real Redis at settings.REDIS_URL. What is published is recorded instead (eager mode off):
the guard is what is under test, not the broker."""

import time
import uuid

import pytest
import redis
from django.conf import settings
from kombu.exceptions import OperationalError

from orders import task_handles, wake_up
from orders.task_handles import TaskHandle
from orders.webhooks import outbox

WAKE_UP = [task_handles.CHARGE_WAITING_ORDERS.name]


@pytest.fixture
def guard(wake_up_guard) -> redis.Redis:
    """The Redis holding the guard (this test's own key, conftest.wake_up_guard, which deletes it
    and clears the cached client after the test); the key is absent to begin with."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert not client.exists(wake_up_guard)
    yield client
    client.close()


@pytest.fixture
def queued(celery_eager, monkeypatch) -> list[str]:
    """The names of the tasks queued, in order; nothing is published or run."""
    celery_eager.conf.task_always_eager = False
    names: list[str] = []
    monkeypatch.setattr(
        TaskHandle, "enqueue", lambda handle, *args, **options: names.append(handle.name)
    )
    return names


def test_wake_charger_twice_in_a_row_queues_one_charger(guard, queued, wake_up_guard):
    wake_up.wake_charger()
    wake_up.wake_charger()

    assert queued == WAKE_UP
    assert 0 < guard.pttl(wake_up_guard) <= settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS


def test_wake_charger_after_the_wake_up_was_released_queues_again(guard, queued, wake_up_guard):
    wake_up.wake_charger()
    wake_up.release_wake_up()
    assert not guard.exists(wake_up_guard)

    wake_up.wake_charger()
    wake_up.wake_charger()

    assert queued == WAKE_UP * 2


def test_wake_charger_after_the_guard_expired_queues_again(guard, queued, wake_up_guard, settings):
    settings.ORDERS_CHARGE_WAKE_UP_GUARD_MS = 200
    wake_up.wake_charger()
    wake_up.wake_charger()  # well within the 200 ms
    assert queued == WAKE_UP

    deadline = time.monotonic() + 5
    while guard.exists(wake_up_guard) and time.monotonic() < deadline:
        time.sleep(0.02)
    wake_up.wake_charger()

    assert queued == WAKE_UP * 2


def test_wake_charger_whose_publish_failed_leaves_no_guard(
    guard, wake_up_guard, celery_eager, monkeypatch
):
    """Nothing was published, so nothing is pending: the next wake-up (say, the re-drive's once
    the broker is back) must queue at once, not wait for the guard to expire."""
    celery_eager.conf.task_always_eager = False
    names = []

    def broker_down_once(handle, *args, **options):
        if not names:
            names.append("refused")
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        names.append(handle.name)

    monkeypatch.setattr(TaskHandle, "enqueue", broker_down_once)

    with pytest.raises(OperationalError):
        wake_up.wake_charger()
    assert not guard.exists(wake_up_guard)
    wake_up.wake_charger()

    assert names == ["refused", *WAKE_UP]


def test_wake_charger_without_redis_queues_every_time(queued, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # a port nobody listens on
    wake_up._guard.cache_clear()

    wake_up.wake_charger()
    wake_up.wake_charger()
    wake_up.release_wake_up()  # cannot clear the guard either: logged, not raised

    assert queued == WAKE_UP * 2  # a spare wake-up costs one empty claim; a missed one, an order
    warnings = [r.getMessage() for r in caplog.records if r.name == "orders.wake_up"]
    assert warnings == [
        "wake-up guard unavailable; waking the charger anyway",
        "wake-up guard unavailable; waking the charger anyway",
        "could not clear the wake-up guard",
    ]


@pytest.fixture
def sender_guard(monkeypatch, guard) -> str:
    """The webhook sender's guard under a key of this test's own, deleted after it."""
    key = f"{outbox.SENDER_WAKE_UP_GUARD_KEY}:test-{uuid.uuid4().hex}"
    monkeypatch.setattr(outbox, "SENDER_WAKE_UP_GUARD_KEY", key)
    yield key
    guard.delete(key)


def test_wake_all_sets_every_guard_in_one_round_trip(
    guard, queued, wake_up_guard, sender_guard, monkeypatch
):
    """A new order with a webhook subscriber wakes the charger and the sender: one trip to
    Redis for both guards, not one each on every POST."""
    trips = []
    execute = redis.client.Pipeline.execute
    monkeypatch.setattr(
        redis.client.Pipeline, "execute", lambda pipe, *a, **k: trips.append(1) or execute(pipe)
    )

    wake_up.wake_all([wake_up.charger_wake_up(), outbox.sender_wake_up()])
    wake_up.wake_all([wake_up.charger_wake_up(), outbox.sender_wake_up()])

    assert queued == [*WAKE_UP, task_handles.SEND_WEBHOOKS.name]  # the second: both pending
    assert len(trips) == 2
    assert guard.exists(wake_up_guard) and guard.exists(sender_guard)


def test_wake_all_publishes_the_others_when_one_publish_fails(
    guard, wake_up_guard, sender_guard, celery_eager, monkeypatch
):
    celery_eager.conf.task_always_eager = False
    published = []

    def charger_refused(handle, *args, **options):
        if handle is task_handles.CHARGE_WAITING_ORDERS:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        published.append(handle.name)

    monkeypatch.setattr(TaskHandle, "enqueue", charger_refused)

    with pytest.raises(OperationalError):
        wake_up.wake_all([wake_up.charger_wake_up(), outbox.sender_wake_up()])

    assert published == [task_handles.SEND_WEBHOOKS.name]
    assert not guard.exists(wake_up_guard)  # nothing pending for the charger: the next may wake it
    assert guard.exists(sender_guard)
