"""The webhooks in the admin: subscriptions without their secret in the list, deliveries with
their last answer, replay and the test event."""

import pytest
from django.urls import reverse
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders.models import OrderState, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def test_subscription_list_never_shows_the_secret(admin_client, subscribe):
    subscription = subscribe()

    page = admin_client.get(reverse("admin:orders_webhooksubscription_changelist")).content.decode()
    change = admin_client.get(
        reverse("admin:orders_webhooksubscription_change", args=[subscription.pk])
    ).content.decode()

    assert subscription.url in page
    assert subscription.secret not in page and subscription.secret not in change


def test_adding_a_subscription_shows_its_drawn_secret_once(admin_client):
    response = admin_client.post(
        reverse("admin:orders_webhooksubscription_add"),
        {"url": "https://93.184.215.14/h", "description": "crm", "event_types": ["order.created"]},
        follow=True,
    )

    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["order.created"]
    assert f"its secret is {subscription.secret}" in response.content.decode()


def test_adding_a_private_url_in_production_is_refused(admin_client, settings):
    settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = admin_client.post(
        reverse("admin:orders_webhooksubscription_add"), {"url": "http://10.0.0.1/h"}
    )
    assert "not a public address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_deliveries_list_filters_and_replays(admin_client, subscribe, make_order):
    subscribe()
    order = make_order(OrderState.CONFIRMED)
    WebhookDelivery.objects.update(
        status="failed", attempts=8, last_status_code=500, last_response="boom"
    )
    url = reverse("admin:orders_webhookdelivery_changelist")

    page = admin_client.get(url, {"status__exact": "failed", "event_type": "order.confirmed"})
    text = page.content.decode()
    assert f"msg_{order.number}_2" in text and f"msg_{order.number}_1" not in text
    assert "boom" in text

    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    admin_client.post(url, {"action": "replay", "_selected_action": ids})
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("pending", 0)}


def test_send_a_test_event_action(admin_client, subscribe):
    subscription = subscribe("order.created")

    admin_client.post(
        reverse("admin:orders_webhooksubscription_changelist"),
        {"action": "send_test_message", "_selected_action": [subscription.pk]},
    )

    assert WebhookDelivery.objects.get().event_type == "webhook.test"
