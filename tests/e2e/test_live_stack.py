"""The harness itself: stacks running at once never share a Redis database (tools/live_stack.py).
On one database each stack's worker would take the other's tasks and run them against its own
database: the supervision test's orders stayed `created` while the session stack's worker took
their charger's wake-ups."""

import pytest
from live_stack import REDIS_DATABASES, StackError, own_redis_database


@pytest.fixture(autouse=True)
def no_stack_running(monkeypatch):
    """As if no stack ran: the session's stack may hold REDIS_URL's database meanwhile."""
    monkeypatch.setattr("live_stack._redis_databases_in_use", set())


def test_a_stack_started_while_another_runs_gets_the_next_free_database_below():
    with own_redis_database("redis://127.0.0.1:6379/15") as first:
        with own_redis_database("redis://127.0.0.1:6379/15") as second:
            assert (first, second) == ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/14")
        # The second one stopped: its database is free again.
        with own_redis_database("redis://127.0.0.1:6379/15") as third:
            assert third == "redis://127.0.0.1:6379/14"


def test_the_search_wraps_round_and_keeps_the_rest_of_the_url():
    url = "redis://:secret@cache:6380/0"
    with own_redis_database(url) as first, own_redis_database(url) as second:
        assert first == url
        assert second == f"redis://:secret@cache:6380/{REDIS_DATABASES - 1}"


def test_no_url_means_the_launcher_starts_its_own_redis():
    with own_redis_database(None) as url:
        assert url is None


def test_every_database_in_use_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("live_stack._redis_databases_in_use", set(range(REDIS_DATABASES)))
    url = "redis://127.0.0.1:6379/3"
    with pytest.raises(StackError, match="every Redis database"), own_redis_database(url):
        pass


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379?db=3", "unix:///tmp/redis.sock?db=2", "redis://h:6379/x"]
)
def test_a_redis_url_it_cannot_number_is_a_clear_error(url):
    with pytest.raises(StackError, match="redis://host:port/<database>"), own_redis_database(url):
        pass


def test_a_trailing_slash_still_names_the_database():
    with own_redis_database("redis://127.0.0.1:6379/15/") as url:
        assert url == "redis://127.0.0.1:6379/15"
