"""Webhooks over the real processes, to a real receiver (tools/webhook_receiver.py) that
verifies every signature with the standardwebhooks package."""

import subprocess
import sys
import time

import pytest
import requests
from live_stack import ROOT
from test_scenario import create_order, wait_for_state
from webhook_receiver import parse_added, receiving

pytestmark = pytest.mark.e2e

CACHE_SECONDS = 1  # ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS in conftest.py
DOWN_SECONDS = 3


@pytest.fixture
def subscribed(stack):
    """A receiver subscribed to every type (or `types`); disabled again at the end, so that
    the rest of the session's orders are not sent to an endpoint that is gone."""
    added = []

    def subscribe(receiver, *args: str) -> int:
        subscription_id, secret = parse_added(
            stack.manage("orders_project", "webhooks", "add", receiver.url, *args)
        )
        receiver.verify_with(secret)
        added.append(subscription_id)
        time.sleep(CACHE_SECONDS + 0.5)  # every process sees it
        return subscription_id

    yield subscribe
    for subscription_id in added:
        stack.manage("orders_project", "webhooks", "disable", str(subscription_id))


def expected_ids(stack, number: str) -> dict[str, str]:
    """Every change of the order as GET /order/<n> shows it (its history and events), by the
    id its message has, with its type: the changes are numbered 1, 2, 3… in the order they
    happened."""
    order = requests.get(f"{stack.orders_url}/order/{number}", timeout=5).json()
    changes = [(row["at"], f"order.{row['to']}") for row in order["history"]]
    changes += [(event["at"], f"order.{event['kind']}") for event in order["events"]]
    return {f"msg_{number}_{seq}": kind for seq, (_, kind) in enumerate(sorted(changes), start=1)}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def received_of(receiver, number: str) -> dict[str, str]:
    return {m["id"]: m["type"] for m in receiver.of_order(number)}


def test_webhooks_every_change_and_event_arrives_once_in_sequence(stack, subscribed):
    with receiving() as receiver:
        subscribed(receiver)
        numbers = [
            create_order(stack, method=method)["orderNumber"]
            for method in ("test_confirm", "test_decline", "card", "cash_on_delivery")
        ]
        cancelled = create_order(stack, method="test_confirm")["orderNumber"]
        wait_for_state(stack, cancelled, {"confirmed"})
        requests.put(f"{stack.orders_url}/order/cancel/{cancelled}", timeout=5).raise_for_status()
        numbers.append(cancelled)
        for number in numbers:
            wait_for_state(
                stack, number, {"delivered", "cancelled"}, timeout=stack.delivery_delay + 30
            )

        for number in numbers:
            expected = expected_ids(stack, number)
            wait_for(lambda n=number, e=expected: received_of(receiver, n) == e, 30, number)
            messages = receiver.of_order(number)
            # After de-duplication by id, each exactly once; in sequence order as they came.
            firsts = list(dict.fromkeys(m["id"] for m in messages))
            assert [int(i.rsplit("_", 1)[1]) for i in firsts] == list(range(1, len(expected) + 1))
            for message in messages:
                assert message["data"]["orderNumber"] == number
                assert message["data"]["sequence"] == int(message["id"].rsplit("_", 1)[1])
        assert receiver.unverified == 0
        # The cancel of a confirmed order: its refund is an event, sent too.
        assert "order.refunded" in received_of(receiver, cancelled).values()


def test_webhooks_a_receiver_down_for_a_while_gets_everything_once_it_recovers(stack, subscribed):
    first_at = []  # when the first message came: the receiver is down for DOWN_SECONDS from then

    def answer(message) -> int:
        first_at[:] = first_at or [time.monotonic()]
        return 500 if time.monotonic() < first_at[0] + DOWN_SECONDS else 204

    with receiving(answer) as receiver:
        subscribed(receiver, "--events", "order.created,order.confirmed")
        numbers = [create_order(stack, method="test_confirm")["orderNumber"] for _ in range(5)]

        for number in numbers:
            expected = {f"msg_{number}_1": "order.created", f"msg_{number}_2": "order.confirmed"}
            wait_for(lambda n=number, e=expected: received_of(receiver, n) == e, 40, number)
        assert len(receiver.messages) > len(set(receiver.ids()))  # the 500s were tried again


def test_webhooks_410_gone_disables_the_subscription(stack, subscribed):
    with receiving(lambda message: 410) as receiver:
        subscription_id = subscribed(receiver, "--events", "order.created")
        create_order(stack)

        def disabled():
            listed = stack.manage("orders_project", "webhooks", "list")
            line = next(x for x in listed.splitlines() if x.startswith(f"{subscription_id}\t"))
            return "disabled: 410 Gone" in line

        wait_for(disabled, 20, "the subscription to be disabled")


def test_webhooks_replay_from_the_command_line_sends_the_same_ids(stack, subscribed):
    with receiving() as receiver:
        subscription_id = subscribed(receiver, "--events", "order.created,order.cancelled")
        number = create_order(stack, method="test_decline")["orderNumber"]
        wait_for(lambda: len(receiver.of_order(number)) == 2, 30, "the first deliveries")
        first = [m["id"] for m in receiver.of_order(number)]

        out = stack.manage("orders_project", "webhooks", "replay", str(subscription_id))

        assert out.startswith("2 deliveries queued again")
        wait_for(lambda: len(receiver.of_order(number)) == 4, 30, "the replayed deliveries")
        assert [m["id"] for m in receiver.of_order(number)] == first * 2


# An order created and cancelled in one transaction that then rolls back: both changes wrote
# their deliveries, and the rollback takes them away with the order.
ROLLED_BACK = """
from django.db import transaction
from orders import services, transitions

class RolledBack(Exception):
    pass

try:
    with transaction.atomic():
        order = services.order_create(name="Rolled Back", address="Nowhere", price=1)
        transitions.order_transition(
            order_number=order.number, to_state="cancelled", reason="rolled back"
        )
        raise RolledBack
except RolledBack:
    print(order.number)
"""


def test_webhooks_a_change_that_rolled_back_sends_nothing(stack, subscribed):
    with receiving() as receiver:
        subscribed(receiver)

        out = stack.manage("orders_project", "shell", "-c", ROLLED_BACK)
        rolled_back = out.splitlines()[-1]  # the shell may print a banner first
        after = create_order(stack, method="test_decline")["orderNumber"]

        # The order made after it is sent, whole; of the rolled back one, nothing.
        expected = {f"msg_{after}_1": "order.created", f"msg_{after}_2": "order.cancelled"}
        wait_for(lambda: received_of(receiver, after) == expected, 30, "the later order's")
        time.sleep(2)  # the sweep that would find a left-over delivery runs every second
        assert requests.get(f"{stack.orders_url}/order/{rolled_back}", timeout=5).status_code == 404
        assert receiver.of_order(rolled_back) == []
        assert not [i for i in receiver.ids() if rolled_back in i]


def test_webhooks_a_private_url_is_refused_in_production_settings(stack):
    env = {
        **stack.env,
        "DJANGO_ENV": "production",
        "ORDERS_SECRET_KEY": "e2e-" + "k" * 60,
        "ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS": "",
    }
    env.pop("ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS")
    for url in ("http://127.0.0.1:9/hooks", "http://10.1.2.3/hooks", "http://169.254.169.254/"):
        done = subprocess.run(
            [sys.executable, "manage.py", "webhooks", "add", url],
            cwd=ROOT / "orders_project",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, done.stdout
        assert "not a public address" in done.stderr, done.stderr
    listed = stack.manage("orders_project", "webhooks", "list")
    assert "10.1.2.3" not in listed and "169.254.169.254" not in listed
