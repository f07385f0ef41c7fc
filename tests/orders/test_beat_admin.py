"""The periodic tasks' admin (orders/beat_admin.py): a task that CELERY_BEAT_SCHEDULE defines is
shown read-only, with a note that the settings hold the schedule; one added by hand stays
editable."""

import re

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from orders.beat_admin import SCHEDULE_NOTE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PERIODIC_TASKS = reverse("admin:django_celery_beat_periodictask_changelist")


def scheduled_from_settings(settings) -> PeriodicTask:
    """A row as beat writes it at start for an entry of CELERY_BEAT_SCHEDULE."""
    name, entry = next(iter(settings.CELERY_BEAT_SCHEDULE.items()))
    every = IntervalSchedule.objects.create(
        every=entry["schedule"], period=IntervalSchedule.SECONDS
    )
    return PeriodicTask.objects.create(name=name, task=entry["task"], interval=every)


def test_periodic_tasks_page_says_the_schedule_comes_from_the_settings(admin_client, settings):
    scheduled_from_settings(settings)

    response = admin_client.get(PERIODIC_TASKS)

    assert response.status_code == 200
    page = response.content.decode()
    assert SCHEDULE_NOTE in page
    assert "CELERY_BEAT_SCHEDULE" in page


def test_periodic_task_from_the_settings_is_read_only(admin_client, settings):
    task = scheduled_from_settings(settings)
    url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])

    response = admin_client.get(url)
    admin_client.post(url, {"name": task.name, "task": task.task, "enabled": "", "interval": ""})

    assert response.status_code == 200
    page = response.content.decode()
    # View only: every field shown as text, nothing to type into, no Save button.
    assert not re.search(r'<(input|select|textarea)[^>]*name="(name|task|regtask|interval)"', page)
    assert 'name="_save"' not in page
    assert "Regtask" not in page  # the form's picker, meaningless read-only
    assert SCHEDULE_NOTE in page
    assert PeriodicTask.objects.get(pk=task.pk).enabled is True
    delete_url = reverse("admin:django_celery_beat_periodictask_delete", args=[task.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:django_celery_beat_periodictask_add")).status_code == 403


def test_periodic_task_not_in_the_settings_stays_editable(admin_client):
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="one-off by hand", task="orders.x", interval=every)

    response = admin_client.get(
        reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    )

    page = response.content.decode()
    assert re.search(r'<input[^>]*name="name"', page)
    assert 'name="_save"' in page
