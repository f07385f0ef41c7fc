"""The delivery sweep and the periodic tasks that beat installs for it and for the re-drive."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from helpers import batch_echo, sent_numbers

from config.celery_app import app
from orders import services, sweeps, transitions
from orders.models import Order, OrderState
from orders.tasks import deliver_due_orders

pytestmark = pytest.mark.django_db

DELAY = timedelta(seconds=settings.ORDERS_DELIVERY_DELAY_SECONDS)


def confirmed_since(make_order, ago: timedelta) -> Order:
    order = make_order(state=OrderState.CONFIRMED)
    Order.objects.filter(pk=order.pk).update(state_changed_at=timezone.now() - ago)
    return Order.objects.get(pk=order.pk)


def test_orders_deliver_due_waits_for_the_delivery_delay(make_order):
    order = make_order(state=OrderState.CONFIRMED)
    confirmed_at = order.state_changed_at

    assert sweeps.orders_deliver_due(now=confirmed_at + DELAY - timedelta(microseconds=1)) == 0
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED

    assert sweeps.orders_deliver_due(now=confirmed_at + DELAY) == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.DELIVERED


def test_orders_deliver_due_uses_the_configured_delay(make_order, settings):
    settings.ORDERS_DELIVERY_DELAY_SECONDS = 60
    order = confirmed_since(make_order, timedelta(seconds=30))

    assert sweeps.orders_deliver_due() == 0
    Order.objects.filter(pk=order.pk).update(
        state_changed_at=timezone.now() - timedelta(seconds=61)
    )
    assert sweeps.orders_deliver_due() == 1


def test_orders_deliver_due_delivers_once_when_run_twice(make_order):
    order = confirmed_since(make_order, DELAY + timedelta(seconds=1))

    assert sweeps.orders_deliver_due() == 1
    assert sweeps.orders_deliver_due() == 0

    delivered = Order.objects.get(pk=order.pk)
    assert delivered.state == OrderState.DELIVERED
    rows = list(order.history.filter(to_state=OrderState.DELIVERED).values_list("from_state"))
    assert rows == [("confirmed",)]
    assert order.history.get(to_state="delivered").reason == "delivery time reached"
    assert delivered.state_changed_at > timezone.now() - timedelta(minutes=1)


def test_orders_deliver_due_never_touches_created_or_cancelled_orders(make_order):
    long_ago = timezone.now() - timedelta(days=1)
    created = make_order()
    cancelled_from_created = make_order(state=OrderState.CANCELLED)
    cancelled_from_confirmed = make_order(state=OrderState.CONFIRMED)
    services.order_cancel(order_number=cancelled_from_confirmed.number)
    others = [created, cancelled_from_created, cancelled_from_confirmed]
    Order.objects.update(state_changed_at=long_ago)

    assert sweeps.orders_deliver_due() == 0

    states = {order.number: Order.objects.get(pk=order.pk).state for order in others}
    assert states == {
        created.number: OrderState.CREATED,
        cancelled_from_created.number: OrderState.CANCELLED,
        cancelled_from_confirmed.number: OrderState.CANCELLED,
    }
    assert not Order.objects.filter(history__to_state=OrderState.DELIVERED).exists()


def test_orders_deliver_due_works_through_every_batch(make_order):
    due = [confirmed_since(make_order, DELAY * 2) for _ in range(7)]
    not_yet = make_order(state=OrderState.CONFIRMED)

    assert sweeps.orders_deliver_due(batch_size=3) == 7

    for order in due:
        assert Order.objects.get(pk=order.pk).state == OrderState.DELIVERED
        assert order.history.filter(to_state=OrderState.DELIVERED).count() == 1
    assert Order.objects.get(pk=not_yet.pk).state == OrderState.CONFIRMED


def test_orders_deliver_due_uses_the_configured_batch_size(make_order, settings):
    settings.ORDERS_SWEEP_BATCH_SIZE = 2
    due = [confirmed_since(make_order, DELAY * 2) for _ in range(5)]

    assert sweeps.orders_deliver_due() == 5
    assert {Order.objects.get(pk=order.pk).state for order in due} == {OrderState.DELIVERED}


def test_deliver_due_orders_task_runs_the_sweep(make_order):
    due = confirmed_since(make_order, DELAY + timedelta(seconds=1))
    fresh = make_order(state=OrderState.CONFIRMED)

    assert deliver_due_orders.delay().get() == 1
    assert deliver_due_orders.delay().get() == 0

    assert Order.objects.get(pk=due.pk).state == OrderState.DELIVERED
    assert Order.objects.get(pk=fresh.pk).state == OrderState.CONFIRMED
    assert due.history.count() == 3


def test_cancel_after_delivery_is_refused(make_order, api_client):
    order = confirmed_since(make_order, DELAY + timedelta(seconds=1))
    sweeps.orders_deliver_due()

    response = api_client.put(f"/order/cancel/{order.number}")

    assert response.status_code == 409
    assert Order.objects.get(pk=order.pk).state == OrderState.DELIVERED


def test_orders_deliver_due_leaves_an_order_cancelled_after_it_was_selected(
    make_order, monkeypatch
):
    """The sweep's selection and its transition are apart: a cancel in between wins, and the
    order is neither delivered nor counted (the transition is the gate's compare-and-set)."""
    kept, cancelled = (confirmed_since(make_order, DELAY * 2) for _ in range(2))
    real_transition_many = transitions.orders_transition_many

    def cancel_first(**kwargs):
        services.order_cancel(order_number=cancelled.number)
        return real_transition_many(**kwargs)

    monkeypatch.setattr(transitions, "orders_transition_many", cancel_first)

    assert sweeps.orders_deliver_due() == 1

    assert Order.objects.get(pk=kept.pk).state == OrderState.DELIVERED
    assert Order.objects.get(pk=cancelled.pk).state == OrderState.CANCELLED
    assert not cancelled.history.filter(to_state=OrderState.DELIVERED).exists()
    assert kept.history.filter(to_state=OrderState.DELIVERED).count() == 1


def test_orders_redrive_stuck_payments_wakes_the_charger_for_orders_2_seconds_late(
    make_order, http, batch_url
):
    http.add_callback("POST", batch_url, callback=batch_echo())
    order = make_order()
    clock = Order.objects.get(pk=order.pk).payment_requested_at

    assert sweeps.orders_redrive_stuck_payments(now=clock + timedelta(seconds=1.9)) == 0
    assert len(http.calls) == 0  # not woken: its own wake-up may still be on its way

    assert sweeps.orders_redrive_stuck_payments(now=clock + sweeps.MISSED_AFTER) == 1
    assert [sent_numbers(call) for call in http.calls] == [[order.number]]  # woken, charged
    assert Order.objects.get(pk=order.pk).state == OrderState.CONFIRMED


# --- beat -------------------------------------------------------------------------------------

EXPECTED_ENTRIES = {
    "orders.deliver-due-orders": (
        "orders.deliver_due_orders",
        settings.ORDERS_DELIVERY_SWEEP_SECONDS,
    ),
    "orders.redrive-stuck-payments": (
        "orders.redrive_stuck_payments",
        settings.ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS,
    ),
    "orders.delete-expired-idempotency-keys": (
        "orders.delete_expired_idempotency_keys",
        settings.ORDERS_IDEMPOTENCY_KEY_SWEEP_SECONDS,
    ),
    "orders.reconcile-payments": (
        "orders.reconcile_payments",
        settings.ORDERS_RECONCILIATION_SWEEP_SECONDS,
    ),
    "orders.redrive-webhooks": (
        "orders.redrive_webhooks",
        settings.ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS,
    ),
    "orders.prune-webhook-deliveries": (
        "orders.prune_webhook_deliveries",
        settings.ORDERS_WEBHOOK_PRUNE_SWEEP_SECONDS,
    ),
}


def install_schedule() -> None:
    DatabaseScheduler(app=app, lazy=True).update_from_dict(app.conf.beat_schedule)


def test_beat_schedule_names_registered_tasks():
    assert set(app.conf.beat_schedule) == set(EXPECTED_ENTRIES)
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


# django-celery-beat closes "old" connections before it reads the schedule, and a connection
# inside the test's wrapping transaction counts as one: these tests commit for real instead.
@pytest.mark.django_db(transaction=True)
def test_beat_schedule_installs_into_the_database_once():
    install_schedule()
    install_schedule()

    tasks = PeriodicTask.objects.filter(name__in=EXPECTED_ENTRIES)
    assert tasks.count() == len(EXPECTED_ENTRIES)
    for name, (task_name, every) in EXPECTED_ENTRIES.items():
        periodic = tasks.get(name=name)
        assert periodic.task == task_name
        assert periodic.enabled
        assert periodic.interval.period == IntervalSchedule.SECONDS
        assert periodic.interval.every == every
        # A sweep that missed its slot expires instead of piling up: about 1.5 intervals.
        assert periodic.expire_seconds == max(1, int(every * 1.5))


@pytest.mark.django_db(transaction=True)
def test_beat_schedule_setup_updates_an_entry_changed_by_hand():
    install_schedule()
    PeriodicTask.objects.filter(name="orders.deliver-due-orders").update(
        task="orders.something_else", expire_seconds=None
    )

    DatabaseScheduler(app=app, lazy=True).setup_schedule()

    periodic = PeriodicTask.objects.get(name="orders.deliver-due-orders")
    assert periodic.task == "orders.deliver_due_orders"
    assert periodic.expire_seconds is not None
    assert PeriodicTask.objects.filter(name__startswith="orders.").count() == len(EXPECTED_ENTRIES)
