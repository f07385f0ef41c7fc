"""manage.py webhooks: add, list, disable, enable, replay."""

import io

import pytest
from django.core.management import CommandError, call_command
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders.models import OrderState, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def webhooks(*args) -> str:
    out = io.StringIO()
    call_command("webhooks", *args, stdout=out)
    return out.getvalue()


def test_add_prints_the_id_and_the_drawn_secret_once():
    out = webhooks("add", "https://93.184.215.14/h", "--events", "order.confirmed,order.cancelled")

    subscription = WebhookSubscription.objects.get()
    assert out.splitlines() == [
        f"subscription {subscription.pk}",
        f"secret {subscription.secret} (shown this once)",
    ]
    assert subscription.event_types == ["order.confirmed", "order.cancelled"]
    listed = webhooks("list")
    assert subscription.secret not in listed
    assert (
        listed
        == f"{subscription.pk}\thttps://93.184.215.14/h\torder.confirmed,order.cancelled\tactive\n"
    )


def test_add_with_a_secret_does_not_print_it():
    secret = "whsec_" + "B" * 32
    out = webhooks("add", "https://93.184.215.14/h", "--secret", secret)
    assert secret not in out and WebhookSubscription.objects.get().secret == secret


def test_add_refuses_bad_input_naming_the_field():
    with pytest.raises(CommandError, match=r"event_types: unknown: order\.lost"):
        webhooks("add", "https://93.184.215.14/h", "--events", "order.lost")
    with pytest.raises(CommandError, match="url: the URL must be http or https"):
        webhooks("add", "ftp://93.184.215.14/h")


def test_disable_enable_and_replay(subscribe, make_order):
    subscription = subscribe()
    make_order(OrderState.CONFIRMED)
    WebhookDelivery.objects.update(status="delivered")

    assert webhooks("disable", str(subscription.pk)) == f"subscription {subscription.pk} disabled\n"
    assert "disabled from the command line" in webhooks("list")
    out = webhooks("replay", str(subscription.pk), "--since", "2000-01-01T00:00:00Z")
    assert out.splitlines()[0] == "2 deliveries queued again"
    assert "is disabled" in out
    assert webhooks("replay", str(subscription.pk), "--failed").startswith("0 deliveries queued")
    webhooks("enable", str(subscription.pk))
    assert WebhookSubscription.objects.get().active


def test_replay_refuses_a_time_without_offset_and_an_unknown_id():
    with pytest.raises(CommandError, match="give the offset"):
        webhooks("replay", "1", "--since", "2024-01-01T00:00:00")
    with pytest.raises(CommandError, match="no subscription 999"):
        webhooks("replay", "999")
