from operator import attrgetter

import pytest
from django.urls import reverse
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

CHANGELIST = "/admin/payments/payment/"


@pytest.fixture
def two_payments(settings, make_payment):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    confirmed = make_payment(amount="10.00")
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0
    declined = make_payment(amount="20.00")
    return confirmed, declined


def listed(response) -> list[str]:
    return [payment.order_number for payment in response.context["cl"].result_list]


def test_payment_admin_changelist_shows_payments(admin_client, two_payments):
    confirmed, declined = two_payments

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert listed(response) == [declined.order_number, confirmed.order_number]
    assert confirmed.order_number in response.text


def test_payment_admin_changelist_filters_by_status(admin_client, two_payments):
    confirmed, _ = two_payments

    response = admin_client.get(CHANGELIST, {"status__exact": PaymentStatus.CONFIRMED})

    assert response.status_code == 200
    assert listed(response) == [confirmed.order_number]
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["status", "method"]


def test_payment_admin_changelist_filters_refunded_payments(admin_client, two_payments):
    confirmed, _ = two_payments
    services.payment_refund(order_number=confirmed.order_number)

    everything = admin_client.get(CHANGELIST)
    refunded = admin_client.get(CHANGELIST, {"status__exact": PaymentStatus.REFUNDED})

    status_filter, _method_filter = everything.context["cl"].filter_specs
    offered = [choice["display"] for choice in status_filter.choices(everything.context["cl"])]
    assert offered == ["All", "Confirmed", "Declined", "Refunded"]
    assert listed(refunded) == [confirmed.order_number]


def test_payment_admin_changelist_shows_a_short_transaction_id(admin_client, two_payments):
    confirmed, _ = two_payments
    full = str(confirmed.transaction_id)

    page = admin_client.get(CHANGELIST).text

    # The start of the id in the cell, the whole of it in the tooltip; never the whole id as text.
    assert f'<span title="{full}" style="white-space: nowrap">{full[:8]}…</span>' in page
    assert f">{full}<" not in page


def test_payment_admin_changelist_finds_a_payment_by_its_short_transaction_id(
    admin_client, two_payments
):
    confirmed, _ = two_payments

    response = admin_client.get(CHANGELIST, {"q": str(confirmed.transaction_id)[:8]})

    assert listed(response) == [confirmed.order_number]


def test_payment_admin_changelist_shows_times_to_the_second(admin_client, two_payments):
    confirmed, _ = two_payments
    Payment.objects.filter(pk=confirmed.pk).update(
        created_at=timezone.make_aware(timezone.datetime(2026, 3, 4, 6, 8, 3))
    )

    page = admin_client.get(CHANGELIST).text

    assert "2026-03-04 06:08:03" in page
    assert "a.m." not in page


def test_payment_admin_changelist_searches_by_order_number(admin_client, two_payments):
    _, declined = two_payments

    response = admin_client.get(CHANGELIST, {"q": declined.order_number})

    assert response.status_code == 200
    assert listed(response) == [declined.order_number]


def test_payment_admin_changelist_searches_by_transaction_id(admin_client, two_payments):
    confirmed, _ = two_payments

    response = admin_client.get(CHANGELIST, {"q": str(confirmed.transaction_id)})

    assert response.status_code == 200
    assert listed(response) == [confirmed.order_number]


def test_payment_admin_change_page_is_read_only(admin_client, two_payments):
    payment = two_payments[0]
    url = reverse("admin:payments_payment_change", args=[payment.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}
    assert 'name="name"' not in response.text
    assert payment.order_number in response.text
    assert response.context["has_delete_permission"] is False


def test_payment_admin_change_post_leaves_the_payment_unchanged(admin_client, two_payments):
    payment = two_payments[0]
    url = reverse("admin:payments_payment_change", args=[payment.pk])

    admin_client.post(url, {"name": "Mallory", "amount": "0.01", "status": "declined"})

    posted_fields = attrgetter("name", "amount", "status")
    assert posted_fields(Payment.objects.get(pk=payment.pk)) == posted_fields(payment)


def test_payment_admin_has_no_add_page(admin_client):
    response = admin_client.get(reverse("admin:payments_payment_add"))

    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_payment_admin_cannot_delete(admin_client, two_payments):
    payment = two_payments[0]

    response = admin_client.post(
        reverse("admin:payments_payment_delete", args=[payment.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Payment.objects.filter(pk=payment.pk).exists()


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/"])
def test_payment_admin_redirects_anonymous_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert f"next={url}" in response["Location"]
