"""GET /payment/?updatedSince=: what a reconciler reads, the least recently changed first."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from payments import selectors, services
from payments.apis import parse_rfc_3339
from payments.models import Payment

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def changed_at(payment, when: datetime) -> None:
    Payment.objects.filter(pk=payment.pk).update(updated_at=when)


def read_all(client, url: str) -> list[str]:
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        seen += [item["orderNumber"] for item in body["results"]]
        url = body["next"]
    return seen


def test_changed_since_lists_only_what_changed_at_or_after_then(auth_client, make_payment):
    before, at, after = make_payment(), make_payment(), make_payment()
    changed_at(before, T0 - timedelta(microseconds=1))
    changed_at(at, T0)
    changed_at(after, T0 + timedelta(seconds=1))

    response = auth_client.get("/payment/", {"updatedSince": "2026-12-03T12:00:00Z"})

    assert response.status_code == 200
    numbers = [item["orderNumber"] for item in response.json()["results"]]
    assert numbers == [at.order_number, after.order_number]


def test_changed_since_is_least_recently_changed_first_across_pages(auth_client, make_payment):
    payments = [make_payment() for _ in range(5)]
    # Changed in another order than created; two at the same instant (a batch's one `now`).
    for payment, seconds in zip(payments, [4, 1, 3, 1, 2], strict=True):
        changed_at(payment, T0 + timedelta(seconds=seconds))

    seen = read_all(auth_client, "/payment/?pageSize=2&updatedSince=2026-12-03T12:00:00Z")

    by_change = sorted(payments, key=lambda p: (Payment.objects.get(pk=p.pk).updated_at, p.pk))
    assert seen == [p.order_number for p in by_change]


def test_changed_since_sees_a_payment_refunded_while_paging_again(auth_client, make_payment):
    """A refund moves the payment to the end of the list: a reader following `next` sees its
    new state instead of missing it."""
    confirmed = [make_payment() for _ in range(3)]
    for n, payment in enumerate(confirmed):
        Payment.objects.filter(pk=payment.pk).update(
            status="confirmed", updated_at=T0 + timedelta(seconds=n)
        )
    first = auth_client.get("/payment/?pageSize=2&updatedSince=2026-12-03T12:00:00Z").json()
    services.payment_refund(order_number=confirmed[0].order_number)

    rest = read_all(auth_client, first["next"])

    assert [item["orderNumber"] for item in first["results"]] == [
        p.order_number for p in confirmed[:2]
    ]
    assert rest == [confirmed[2].order_number, confirmed[0].order_number]


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-12-03T12:00:00Z", T0),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("2026-12-03t12:00:00z", T0),
        ("2026-12-03T13:00:00+01:00", T0),
        ("2026-12-03T12:00:00.5Z", T0 + timedelta(microseconds=500000)),
        # Finer than a microsecond: cut, never rounded up past the moment asked for.
        ("2026-12-03T12:00:00.0000019Z", T0 + timedelta(microseconds=1)),
    ],
)
def test_parse_rfc_3339_reads_each_spelling(value, moment):
    assert parse_rfc_3339(value) == moment


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2026-12-03",
        "2026-12-03 12:00:00Z",  # a space, or a '+' offset sent unencoded ('+' reads as a space)
        "2026-12-03T12:00:00 01:00",
        "2026-12-03T12:00:00",  # no offset: a local time, ambiguous
        "2026-12-03T12:00Z",  # no seconds
        "2026-02-30T12:00:00Z",  # no such day
        "2026-12-03T25:00:00Z",
        # No UTC time: beyond the calendar either way once the offset is applied.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "\uff12\uff10\uff12\uff16-12-03T12:00:00Z",  # full-width digits
        "2026-12-03T12:00:00Z\x00",
        "1" * 5000,
    ],
)
def test_changed_since_refuses_anything_but_rfc_3339_naming_the_parameter(auth_client, value):
    response = auth_client.get("/payment/", {"updatedSince": value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["updatedSince"]


@pytest.mark.parametrize("position", ["abc", "", "1.5", "2026-13-01 00:00:00+00:00"])
def test_changed_since_refuses_a_forged_cursor_position_with_json_404(
    auth_client, make_payment, position
):
    make_payment()
    cursor = base64.b64encode(f"o=0&p={position}".encode()).decode()

    response = auth_client.get(
        "/payment/", {"updatedSince": "2026-01-01T00:00:00Z", "cursor": cursor}
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_changed_since_uses_the_index(make_payment):
    make_payment()
    plan = selectors.payment_list_changed_since(since=T0).explain()

    index = "payment_updated_at_idx"
    if connection.vendor == "sqlite":
        assert index in plan
    else:  # a tiny table: PostgreSQL may prefer a scan, but the index must exist
        with connection.cursor() as cursor:
            names = connection.introspection.get_constraints(cursor, Payment._meta.db_table)
        assert index in names
