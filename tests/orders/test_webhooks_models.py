"""The outbox's tables (orders/webhooks/models.py): what deleting an order or a subscription takes
with it, and the indexes each delivery row version pays for."""

import pytest
from django.db import connection
from webhook_helpers import *  # noqa: F403 (the fixtures)

from orders import services
from orders.models import OrderEvent, OrderState, OrderStateChange, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_deleting_an_order_deletes_its_deliveries_through_the_order_alone(subscribe, make_order):
    subscribe()
    order, other = make_order(OrderState.CONFIRMED), make_order()
    services.order_cancel(order_number=order.number, operator="ops")  # an event's delivery too
    assert WebhookDelivery.objects.filter(order=order, event__isnull=False).exists()

    order.delete()

    assert not WebhookDelivery.objects.filter(order_id=order.pk).exists()
    assert not OrderStateChange.objects.filter(order_id=order.pk).exists()
    assert not OrderEvent.objects.filter(order_id=order.pk).exists()
    assert WebhookDelivery.objects.filter(order=other).count() == 1  # order.created


def test_deleting_a_subscription_deletes_its_deliveries(subscribe, make_order):
    kept, dropped = subscribe(), subscribe(url="http://other.example.test/hooks")
    make_order()

    dropped.delete()

    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [kept.pk]


def test_a_delivery_row_pays_for_no_index_that_another_covers():
    """Each delivery is written three times (inserted, claimed, answered), each time into every
    index: the subscription is found by the unique constraint that starts with it, and the
    history row's and event's links are never searched."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, WebhookDelivery._meta.db_table
        )
    single_column_indexes = {
        tuple(c["columns"]) for c in constraints.values() if c["index"] and len(c["columns"]) == 1
    }

    assert ("order_id",) in single_column_indexes
    for column in ("subscription_id", "state_change_id", "event_id"):
        assert (column,) not in single_column_indexes
