"""The admin of orders (orders/admin.py): the operator's side of the service."""

import re
from datetime import timedelta

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent, OrderEventKind, OrderState, OrderStateChange

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


@pytest.mark.parametrize("query", ["Loop Road", "loop road", "7 Ha"])
def test_admin_changelist_searches_by_address(admin_client, make_order, query):
    wanted = make_order(address="17 Harbour Loop Road")
    make_order(address="2 Main Street")

    response = admin_client.get(CHANGELIST, {"q": query})

    assert listed_numbers(response) == {wanted.number}


def test_admin_changelist_searches_by_name(admin_client, make_order):
    wanted = make_order(name="Grace Hopper")
    make_order(name="Ada Lovelace")

    response = admin_client.get(CHANGELIST, {"q": "hopper"})

    assert listed_numbers(response) == {wanted.number}


def created_date_choices(response) -> dict[str, str]:
    """The created-date filter's choices: label -> query string."""
    [spec] = [spec for spec in response.context["cl"].filter_specs if spec.title == "created at"]
    return {
        choice["display"]: choice["query_string"] for choice in spec.choices(response.context["cl"])
    }


def test_admin_changelist_filters_by_created_date(admin_client, make_order):
    recent, old = make_order(), make_order()
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    choices = created_date_choices(admin_client.get(CHANGELIST))
    past_week = admin_client.get(CHANGELIST + choices["Past 7 days"])
    any_date = admin_client.get(CHANGELIST + choices["Any date"])

    assert list(choices) == ["Any date", "Today", "Past 7 days", "This month", "This year"]
    assert listed_numbers(past_week) == {recent.number}
    assert listed_numbers(any_date) == {recent.number, old.number}


SECONDS = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def test_admin_changelist_shows_times_to_the_second(admin_client, make_order):
    order = make_order()
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.make_aware(timezone.datetime(2026, 3, 4, 6, 8, 3))
    )

    page = admin_client.get(CHANGELIST).content.decode()

    assert "2026-03-04 06:08:03" in page
    assert "a.m." not in page


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


def test_admin_change_page_shows_history_and_event_times_to_the_second(admin_client, make_order):
    order = make_order()
    services.order_cancel(order_number=order.number, operator="admin")
    moments = [timezone.make_aware(timezone.datetime(2026, 3, 4, 6, 8, s)) for s in (1, 2, 3)]
    first, second = order.history.all()
    OrderStateChange.objects.filter(pk=first.pk).update(created_at=moments[0])
    OrderStateChange.objects.filter(pk=second.pk).update(created_at=moments[1])
    order.events.update(created_at=moments[2])

    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    for expected in ("2026-03-04 06:08:01", "2026-03-04 06:08:02", "2026-03-04 06:08:03"):
        assert expected in page
    assert re.search(SECONDS, page)


def cancel(client, *orders):
    return client.post(
        CHANGELIST,
        {"action": "cancel_orders", "_selected_action": [order.pk for order in orders]},
        follow=True,
    )


def level_messages(response, level) -> list[str]:
    return [m.message for m in response.context["messages"] if m.level == level]


def test_admin_cancel_action_records_the_admin_user_as_an_event(
    admin_client, admin_user, make_order
):
    order = make_order(state=OrderState.CONFIRMED)

    cancel(admin_client, order)

    [event] = order.events.all()
    assert (event.kind, event.actor) == (OrderEventKind.CANCELLED_BY_OPERATOR, admin_user.username)
    assert event.detail == "cancelled in the admin (was confirmed)"
    last = order.history.last()
    assert (last.from_state, last.to_state, last.reason) == (
        "confirmed",
        "cancelled",
        "cancelled by an operator",
    )


def test_admin_cancel_action_writes_an_admin_log_entry_per_order(
    admin_client, admin_user, make_order
):
    first, second = make_order(), make_order(state=OrderState.CONFIRMED)

    cancel(admin_client, first, second)

    entries = LogEntry.objects.filter(user=admin_user).order_by("object_id")
    assert [(e.object_id, e.action_flag, e.change_message) for e in entries] == sorted(
        (str(order.pk), CHANGE, "Cancelled by admin (Cancel selected orders).")
        for order in (first, second)
    )


def test_admin_cancel_shows_on_the_order_history_page(admin_client, make_order):
    order = make_order()

    cancel(admin_client, order)
    page = admin_client.get(reverse("admin:orders_order_history", args=[order.pk]))

    assert page.status_code == 200
    assert "Cancelled by admin (Cancel selected orders)." in page.content.decode()
    [action] = page.context["action_list"]
    assert action.user.username == "admin"


def test_admin_cancel_action_says_which_orders_it_cancelled(admin_client, make_order):
    first, second = make_order(), make_order(state=OrderState.CONFIRMED)

    response = cancel(admin_client, first, second)

    assert sorted(level_messages(response, messages.SUCCESS)) == sorted(
        f"Order {order.number} cancelled." for order in (first, second)
    )
    assert level_messages(response, messages.WARNING) == []


def test_admin_cancel_action_says_why_an_order_was_not_cancelled(admin_client, make_order):
    delivered, cancelled = make_order(state=OrderState.DELIVERED), make_order()
    services.order_cancel(order_number=cancelled.number)
    history_before = OrderStateChange.objects.count()

    response = cancel(admin_client, delivered, cancelled)

    assert sorted(level_messages(response, messages.WARNING)) == sorted(
        [
            f"Order {delivered.number} not cancelled: it is delivered already.",
            f"Order {cancelled.number} not cancelled: it is cancelled already.",
        ]
    )
    assert level_messages(response, messages.SUCCESS) == []
    assert Order.objects.get(pk=delivered.pk).state == OrderState.DELIVERED
    # A refused cancel leaves no trace: no transition, no event, no log entry.
    assert OrderStateChange.objects.count() == history_before
    assert not OrderEvent.objects.filter(kind=OrderEventKind.CANCELLED_BY_OPERATOR).exists()
    assert not LogEntry.objects.exists()


def test_order_cancel_by_the_customer_records_no_operator_event(make_order):
    order = make_order()

    services.order_cancel(order_number=order.number)

    assert order.history.last().reason == "cancelled by customer"
    assert not order.events.exists()
