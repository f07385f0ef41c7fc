"""The sender against a real endpoint that verifies every signature with the standardwebhooks
package: delivered, retried on the schedule, given up, 410, redirects, order, the address
check, the sending threads."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import services
from orders.models import OrderState, WebhookDelivery, WebhookSubscription
from orders.webhooks import addresses, sender
from orders.webhooks.services import subscription_add

pytestmark = pytest.mark.django_db


def send() -> int:
    return sender.deliveries_send_due()


def later(seconds: float):
    """Make every pending delivery due as if `seconds` had passed."""
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_every_change_is_delivered_signed_in_sequence(endpoint, make_order, scrape):
    receiver = endpoint()
    order = make_order(OrderState.DELIVERED)
    before = scrape()

    # One order's messages go one per round, in sequence: three rounds.
    assert send() == 3

    n = order.number
    assert receiver.ids == [f"msg_{n}_1", f"msg_{n}_2", f"msg_{n}_3"]
    assert receiver.types == ["order.created", "order.confirmed", "order.delivered"]
    assert [m["data"]["sequence"] for m in receiver.received] == [1, 2, 3]
    assert [m["data"]["state"] for m in receiver.received] == ["created", "confirmed", "delivered"]
    assert set(WebhookDelivery.objects.values_list("status", "attempts", "last_status_code")) == {
        ("delivered", 1, 204)
    }
    assert (
        scrape().change_since(before, "orders_webhook_deliveries_total", outcome="delivered") == 3
    )


def test_the_next_of_an_order_waits_for_the_one_before(endpoint, make_order, settings):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [60]
    receiver = endpoint()
    receiver.answers = [500]
    order = make_order(OrderState.CONFIRMED)

    send()  # created fails: confirmed is not sent before it

    assert receiver.types == ["order.created"]
    later(60)
    send()
    assert receiver.types == ["order.created", "order.created", "order.confirmed"]
    assert WebhookDelivery.objects.get(order=order, sequence=1).attempts == 2


def test_a_failed_attempt_is_retried_after_the_schedule_with_jitter(endpoint, make_order, settings):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [100, 1000]
    receiver = endpoint("order.created")
    receiver.answers = [(503, b'{"status": 503, "why": "maintenance"}')]
    make_order()
    started = timezone.now()

    assert send() == 0

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert delivery.last_response == '{"status": 503, "why": "maintenance"}'
    wait = (delivery.next_attempt_at - started).total_seconds()
    assert 90 <= wait <= 111
    assert send() == 0  # not due yet
    later(100)
    assert send() == 1
    assert receiver.ids == [delivery.message_id] * 2  # the same id again


def test_failures_through_the_whole_schedule_disable_the_subscription(
    endpoint, make_order, settings, scrape
):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [1, 1]
    receiver = endpoint("order.created")
    receiver.answers = [500, 500, 500]
    make_order()

    for _ in range(3):
        send()
        later(1)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    subscription = WebhookSubscription.objects.get()
    assert not subscription.active
    assert "failed 3 attempts over the whole retry schedule" in subscription.disabled_reason
    assert "HTTP 500" in subscription.disabled_reason
    assert scrape()("orders_webhook_deliveries_total", outcome="gave_up") >= 1


def test_410_gone_disables_the_subscription_at_once(endpoint, make_order):
    receiver = endpoint()
    receiver.answers = [410]
    make_order(OrderState.CONFIRMED)

    send()

    assert receiver.types == ["order.created"]  # nothing more once gone
    subscription = WebhookSubscription.objects.get()
    assert not subscription.active
    assert subscription.disabled_reason.startswith("410 Gone from 127.0.0.1 for msg_")
    assert "/hooks" not in subscription.disabled_reason  # the host only, never the path
    assert WebhookDelivery.objects.filter(status="failed").count() == 1
    assert WebhookDelivery.objects.filter(status="pending").count() == 1  # kept, for a replay


def test_a_redirect_is_not_followed(endpoint, make_order, settings):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [60]
    receiver = endpoint("order.created")
    receiver.answers = [302]
    make_order()

    send()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.received) == 1


def test_no_answer_is_retried(subscribe, make_order, settings):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [60]
    subscribe("order.created", url="http://127.0.0.1:1/hooks")  # nobody listens there
    make_order()

    send()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_response.startswith("no answer: ")


def test_a_private_address_is_refused_at_the_next_round(receiver, subscribe, make_order, settings):
    """The check is made again before each round of sending to an endpoint: an address checked
    and connected to before is not trusted afterwards."""
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [60]
    subscription = subscribe("order.created", url=receiver.url)
    receiver.verify_with(subscription.secret)
    make_order()
    assert send() == 1  # allowed, and a connection kept alive
    make_order()
    settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = False  # as if its name now resolved privately

    assert send() == 0

    delivery = WebhookDelivery.objects.get(subscription=subscription, status="pending")
    assert (
        delivery.last_response == "refused: 127.0.0.1 resolves to 127.0.0.1, not a public address"
    )
    assert len(receiver.messages) == 1 and receiver.unverified == 0


def test_each_endpoint_is_checked_once_a_claim(receiver, subscribe, monkeypatch, settings):
    """Once per round, not per message: the check resolves the name (outside local runs)."""
    settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    first = subscribe("order.created", url=receiver.url)
    second, _ = subscription_add(
        url=receiver.url.replace("/hooks", "/other"), types=["order.created"], secret=first.secret
    )
    receiver.verify_with(first.secret)
    checked = []
    check = addresses.checked_address
    monkeypatch.setattr(addresses, "checked_address", lambda url: checked.append(url) or check(url))

    for _claim in range(2):
        for _order in range(3):
            services.order_create(name="Ada", address="1 Loop Road", price="1.00")
        assert send() == 6  # in one claim

    assert sorted(checked) == sorted([first.url, second.url] * 2)
    assert len(receiver.messages) == 12


def test_a_disabled_subscription_is_not_sent_to(endpoint, make_order):
    receiver = endpoint()
    make_order()
    WebhookSubscription.objects.update(active=False)

    assert send() == 0
    assert receiver.received == []


def test_claims_of_a_worker_run_that_is_gone_are_given_back(endpoint, make_order):
    endpoint()
    make_order()
    held = timezone.now() + timedelta(minutes=5)
    WebhookDelivery.objects.update(next_attempt_at=held, claimed_by="celery@a run1")

    assert send() == 0  # claimed: not due
    released = sender.deliveries_release_claims_of_gone_workers(
        ready="celery@a run2", live_nodes={"celery@a"}
    )

    assert released == 1
    # Due at once, and the sender woken (it runs here and now: tasks are eager in the tests).
    assert WebhookDelivery.objects.get().status == "delivered"


def test_redrive_counts_what_is_due(endpoint, make_order):
    endpoint()
    make_order()

    assert sender.deliveries_redrive() == 1
    send()
    assert sender.deliveries_redrive() == 0


def test_a_batch_to_one_endpoint_is_sent_a_few_at_a_time(endpoint, settings):
    settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    receiver = endpoint("order.created")
    lock, in_flight, most = threading.Lock(), [0], [0]

    def slowly(message) -> int:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return 204

    receiver.receiver.answer = slowly
    for _ in range(6):
        services.order_create(name="Ada", address="1 Loop Road", price="1.00")

    assert send() == 6
    assert len(set(receiver.ids)) == 6
    assert most[0] == 2


def test_the_sending_threads_are_kept_across_claims(endpoint, monkeypatch, settings):
    settings.ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    made = []

    class Counted(ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sender, "ThreadPoolExecutor", Counted)
    monkeypatch.setitem(sender._sending, "threads", None)
    receiver = endpoint("order.created")

    def claim_of_three() -> int:
        for _ in range(3):
            services.order_create(name="Ada", address="1 Loop Road", price="1.00")
        return send()

    assert claim_of_three() == 3
    assert claim_of_three() == 3
    assert len(made) == 1
    sender._forget_after_fork()  # what a forked child runs: the parent's threads are not its own
    assert claim_of_three() == 3
    assert len(made) == 2
    assert len(receiver.ids) == 9
    for pool in made:
        pool.shutdown()
