"""orders/task_handles.py: one handle per task, and every handle a task; the beat schedule names
handles only."""

import ast
import inspect

from django.conf import settings

from config.celery_app import app
from orders import task_handles, tasks

HANDLE_NAMES = {handle.name for handle in task_handles.ALL}


def test_every_handle_names_a_registered_task():
    assert set(app.tasks) >= HANDLE_NAMES


def test_every_task_of_orders_has_a_handle():
    registered = {name for name in app.tasks if name.startswith("orders.")}
    assert registered == HANDLE_NAMES


def test_every_handle_is_listed_once():
    assert len(task_handles.ALL) == len(HANDLE_NAMES)
    constants = [
        value
        for name, value in vars(task_handles).items()
        if isinstance(value, task_handles.TaskHandle) and name.isupper()
    ]
    assert sorted(h.name for h in constants) == sorted(HANDLE_NAMES)


def test_the_beat_schedule_names_handles():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled and scheduled <= HANDLE_NAMES


def test_tasks_are_registered_under_their_handles_names():
    """No task name written out in orders/tasks.py: each comes from its handle."""
    tree = ast.parse(inspect.getsource(tasks))
    names = [
        keyword.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "name"
    ]
    assert names and not [name for name in names if isinstance(name, ast.Constant)]


def test_enqueue_runs_the_task_eagerly_in_tests(celery_eager, monkeypatch):
    ran = []
    monkeypatch.setattr(tasks.idempotency, "idempotency_keys_delete_expired", lambda: ran.append(1))

    task_handles.DELETE_EXPIRED_IDEMPOTENCY_KEYS.enqueue()

    assert ran == [1]
