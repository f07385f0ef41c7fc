"""The admin's login lockout (django-axes, configured once in servicekit/settings.py; the page is
servicekit/admin_lockout.py), as a person at the login form meets it."""

import logging

import pytest
from axes.models import AccessAttempt
from django.db.models import F

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "the-right-password"
ADDRESS = "192.0.2.10"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(
        username="operator", password=PASSWORD, is_staff=True
    )


def log_in(client, username, password, address=ADDRESS, **extra):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def fail(client, times, username="operator", address=ADDRESS, **extra):
    """`times` failed logins; returns the last answer."""
    for _ in range(times):
        answer = log_in(client, username, "wrong", address, **extra)
    return answer


def logged_in(answer) -> bool:
    return answer.status_code == 302 and answer["Location"] == "/admin/"


def test_admin_login_lockout_defaults_to_5_failures_and_15_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_admin_login_is_locked_after_the_failures_even_with_the_right_password(
    client, operator, settings
):
    before = fail(client, settings.AXES_FAILURE_LIMIT - 1)
    locking = fail(client, 1)
    right = log_in(client, "operator", PASSWORD)

    assert before.status_code == 200  # the login form again, with its error
    assert "Please enter the correct username and password" in before.text
    assert locking.status_code == 429
    assert right.status_code == 429
    assert "Login locked" in right.text
    assert "_auth_user_id" not in client.session


def test_admin_lockout_page_says_what_happened_for_how_long_and_whom_to_ask(
    client, operator, settings, caplog
):
    fail(client, settings.AXES_FAILURE_LIMIT)
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="servicekit.admin_lockout"):
        page = log_in(client, "operator", PASSWORD)

    assert page.status_code == 429
    assert page["Content-Type"].startswith("text/html")
    text = " ".join(page.text.split())
    assert "5 failed logins as <strong>operator</strong> from your address" in text
    assert "blocked for 15 minutes after the last failed attempt" in text
    assert "try again in 15 minutes" in text
    assert "Ask an administrator of this service" in text
    [record] = [r for r in caplog.records if r.name == "servicekit.admin_lockout"]
    # The username stays out of the log, as axes keeps it out of its own lines: a person who
    # typed the password into the username field would leave it there.
    assert record.getMessage() == (
        f"admin login refused: a username from {ADDRESS} is locked out after 5 failed logins, "
        "for 15 more minutes"
    )


def test_admin_lockout_is_for_one_username_from_one_address(
    client, operator, django_user_model, settings
):
    django_user_model.objects.create_user(username="other", password=PASSWORD, is_staff=True)
    fail(client, settings.AXES_FAILURE_LIMIT)

    other_user = log_in(client, "other", PASSWORD)
    client.logout()
    other_address = log_in(client, "operator", PASSWORD, address="192.0.2.99")
    client.logout()
    locked = log_in(client, "operator", PASSWORD)

    assert logged_in(other_user)
    assert logged_in(other_address)
    assert locked.status_code == 429


def test_admin_lockout_counts_the_address_a_trusted_proxy_saw(client, operator, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    proxy = "10.0.0.5"
    fail(client, settings.AXES_FAILURE_LIMIT, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.1")

    elsewhere = log_in(client, "operator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.2")
    client.logout()
    locked = log_in(
        client, "operator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.1"
    )

    assert logged_in(elsewhere)  # the proxy's own address is shared; the lock is not
    assert locked.status_code == 429


def test_admin_login_works_again_after_the_cool_off(client, operator, settings):
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert log_in(client, "operator", PASSWORD).status_code == 429

    # The cool-off passes: the failures axes counted are that much older.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME)

    assert logged_in(log_in(client, "operator", PASSWORD))


def test_admin_lockout_is_not_prolonged_by_attempts_during_it(client, operator, settings):
    fail(client, settings.AXES_FAILURE_LIMIT)
    locked_at = AccessAttempt.objects.get().attempt_time

    fail(client, 3)
    log_in(client, "operator", PASSWORD)

    assert AccessAttempt.objects.get().attempt_time == locked_at


def test_admin_login_success_clears_the_failures_before_it(client, operator, settings):
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert logged_in(log_in(client, "operator", PASSWORD))
    client.logout()

    again = fail(client, settings.AXES_FAILURE_LIMIT - 1)

    assert again.status_code == 200  # four more typos, not nine in a row
    assert logged_in(log_in(client, "operator", PASSWORD))
