"""The admin, the health endpoints and the migrations: the operator's side of the service."""

import io

import pytest
from django.contrib import messages
from django.core.management import call_command
from django.urls import reverse

from orders import services
from orders.models import Order, OrderEvent, OrderState, OrderStateChange

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

CHANGELIST = reverse("admin:orders_order_changelist")


def listed_numbers(response) -> set[str]:
    return {order.number for order in response.context["cl"].result_list}


def test_admin_changelist_requires_a_login(client, make_order):
    make_order()

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_changelist_lists_orders_for_a_superuser(admin_client, make_order):
    orders = [make_order(), make_order(state=OrderState.CONFIRMED)]

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert listed_numbers(response) == {order.number for order in orders}


def test_admin_changelist_filters_by_state(admin_client, make_order):
    confirmed = make_order(state=OrderState.CONFIRMED)
    make_order()
    make_order(state=OrderState.CANCELLED)

    response = admin_client.get(CHANGELIST, {"state__exact": "confirmed"})

    assert response.status_code == 200
    assert listed_numbers(response) == {confirmed.number}


def test_admin_changelist_searches_by_number(admin_client, make_order):
    wanted, other = make_order(), make_order()

    response = admin_client.get(CHANGELIST, {"q": wanted.number})

    assert listed_numbers(response) == {wanted.number}
    assert other.number not in response.content.decode()


def inlines(response) -> dict:
    """The change page's inline rows, by model."""
    formsets = response.context["inline_admin_formsets"]
    return {formset.opts.model: [form.original for form in formset] for formset in formsets}


def test_admin_change_page_shows_the_history_inline(admin_client, make_order):
    order = make_order(state=OrderState.DELIVERED)

    response = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    assert response.status_code == 200
    rows = inlines(response)
    assert set(rows) == {OrderStateChange, OrderEvent}
    assert [(row.from_state, row.to_state) for row in rows[OrderStateChange]] == [
        (None, "created"),
        ("created", "confirmed"),
        ("confirmed", "delivered"),
    ]
    assert rows[OrderEvent] == []
    assert "order created" in response.content.decode()


def test_admin_change_page_shows_the_events_inline(admin_client, make_order):
    order = make_order()
    services.order_cancel(order_number=order.number)
    services.order_apply_payment_result(
        order_number=order.number, payment_status="declined", transaction_id="tx-late-1"
    )

    response = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    assert response.status_code == 200
    rows = inlines(response)
    assert [(row.from_state, row.to_state) for row in rows[OrderStateChange]] == [
        (None, "created"),
        ("created", "cancelled"),
    ]
    [event] = rows[OrderEvent]
    assert (event.kind, event.transaction_id) == ("payment_after_cancellation", "tx-late-1")
    page = response.content.decode()
    assert "payment declined after cancellation" in page
    assert "tx-late-1" in page


def test_admin_cannot_add_or_delete_orders(admin_client, make_order):
    order = make_order()

    assert admin_client.get(reverse("admin:orders_order_add")).status_code == 403
    delete_url = reverse("admin:orders_order_delete", args=[order.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()


def test_admin_change_page_shows_every_field_read_only(admin_client, make_order):
    order = make_order()

    response = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    # States change only through services: the form offers no field to edit.
    assert response.context["adminform"].form.fields == {}
    assert 'name="state"' not in response.content.decode()


def test_admin_cancel_action_cancels_the_selected_orders(admin_client, make_order):
    selected = [make_order(), make_order(state=OrderState.CONFIRMED)]
    untouched = make_order()

    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel_orders", "_selected_action": [order.pk for order in selected]},
        follow=True,
    )

    assert response.status_code == 200
    for order in selected:
        assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
        assert order.history.filter(to_state="cancelled").count() == 1
    assert Order.objects.get(pk=untouched.pk).state == OrderState.CREATED


def test_admin_cancel_action_warns_about_orders_it_cannot_cancel(admin_client, make_order):
    delivered, created = make_order(state=OrderState.DELIVERED), make_order()

    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel_orders", "_selected_action": [delivered.pk, created.pk]},
        follow=True,
    )

    assert Order.objects.get(pk=delivered.pk).state == OrderState.DELIVERED
    assert Order.objects.get(pk=created.pk).state == OrderState.CANCELLED
    warnings = [m for m in response.context["messages"] if m.level == messages.WARNING]
    assert len(warnings) == 1
    assert delivered.number in warnings[0].message


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_health_live_answers_ok(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_health_ready_checks_the_database_and_the_broker(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": True, "broker": True},
        "stuck": {"awaitingPayment": 0, "awaitingRefund": 0},
    }


def test_health_ready_answers_503_when_the_broker_is_unreachable(client, celery_eager, monkeypatch):
    celery_eager.conf.task_always_eager = False
    # A port nobody listens on: the real connection attempt fails fast, whatever broker the
    # settings name (app.conf.broker_url cannot be changed once the app has read it).
    unreachable = celery_eager.connection_for_write(url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_eager, "connection_for_write", lambda: unreachable)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}
    assert response.json()["status"] == "unavailable"


def test_migrations_match_the_models():
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)

    assert "No changes detected" in out.getvalue()
