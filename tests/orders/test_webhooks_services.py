"""Subscribing, disabling, replaying, the test message, pruning."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders.models import OrderState, WebhookDelivery, WebhookSubscription
from orders.webhooks import sender, services

pytestmark = pytest.mark.django_db


def test_add_draws_a_secret_and_validates(settings):
    subscription, secret = services.subscription_add(url="https://93.184.215.14/h", types=[])
    assert secret.startswith("whsec_") and subscription.secret == secret

    with pytest.raises(ValidationError) as unknown:
        services.subscription_add(url="https://93.184.215.14/h", types=["order.shipped"])
    assert "event_types" in unknown.value.message_dict
    with pytest.raises(ValidationError) as bad_secret:
        services.subscription_add(url="https://93.184.215.14/h", secret="s3cret")
    assert "secret" in bad_secret.value.message_dict
    settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as private:
        services.subscription_add(url="http://10.0.0.8/h")
    assert "not a public address" in private.value.message_dict["url"][0]


def test_replay_sends_every_delivery_again_with_its_id(endpoint, make_order):
    receiver = endpoint()
    order = make_order(OrderState.CONFIRMED)
    sender.deliveries_send_due()

    count = services.subscription_replay(receiver.subscription.pk)
    sender.deliveries_send_due()

    n = order.number
    assert count == 2
    assert receiver.ids == [f"msg_{n}_1", f"msg_{n}_2"] * 2


def test_replay_failed_only_and_since(endpoint, make_order, settings):
    settings.ORDERS_WEBHOOK_RETRY_SCHEDULE = [60]
    receiver = endpoint("order.created")
    old, new = make_order(), make_order()
    WebhookDelivery.objects.filter(order=old).update(
        status="failed", created_at=timezone.now() - timedelta(days=2)
    )
    WebhookDelivery.objects.filter(order=new).update(status="failed")
    sid = receiver.subscription.pk

    assert (
        services.subscription_replay(
            sid, failed_only=True, since=timezone.now() - timedelta(days=1)
        )
        == 1
    )
    assert WebhookDelivery.objects.get(order=new).status == "pending"
    assert WebhookDelivery.objects.get(order=old).status == "failed"


def test_test_message_reaches_any_subscription(endpoint):
    receiver = endpoint("order.refunded")

    services.test_message_send(receiver.subscription)
    sender.deliveries_send_due()

    assert receiver.types == ["webhook.test"]
    assert receiver.received[0]["data"] == {"test": True, "subscription": receiver.subscription.pk}


def test_disable_and_enable(subscribe, make_order):
    subscription = subscribe()

    assert services.subscription_disable(subscription.pk, reason="by hand")
    make_order()
    assert not WebhookDelivery.objects.exists()  # the cache was forgotten
    assert WebhookSubscription.objects.get().disabled_reason == "by hand"
    assert services.subscription_enable(subscription.pk)
    make_order()
    assert WebhookDelivery.objects.count() == 1


def test_prune_deletes_delivered_rows_past_retention(subscribe, make_order, settings):
    settings.ORDERS_WEBHOOK_RETENTION_DAYS = 7
    subscribe("order.created")
    old, recent, failed = make_order(), make_order(), make_order()
    now = timezone.now()
    WebhookDelivery.objects.filter(order=old).update(
        status="delivered", delivered_at=now - timedelta(days=8)
    )
    WebhookDelivery.objects.filter(order=recent).update(
        status="delivered", delivered_at=now - timedelta(days=6)
    )
    WebhookDelivery.objects.filter(order=failed).update(status="failed")

    assert services.deliveries_prune() == 1
    assert set(WebhookDelivery.objects.values_list("order", flat=True)) == {recent.pk, failed.pk}


def test_health_and_metrics_show_the_oldest_pending(subscribe, make_order, client, scrape):
    subscribe("order.created")
    make_order()
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(seconds=90))

    detail = client.get("/health/ready").json()["webhooks"]

    assert detail["pending"] == 1 and 90 <= detail["oldestPendingSeconds"] < 120
    assert 90 <= scrape()("orders_webhook_oldest_pending_age_seconds") < 120
