"""An in-memory broker: publish a task the way the web does (through Celery's publish path and
its signals, so the task's headers are the real ones) and run it the way a worker does."""

import contextlib

from celery.worker.request import Request
from kombu import Connection

from config.celery_app import app


@contextlib.contextmanager
def memory_broker():
    """Yield `publish(task, *args) -> message`; eager mode is off meanwhile."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with Connection("memory://") as connection:
            queue = connection.SimpleQueue(app.conf.task_default_queue)

            def publish(task, *args):
                task.apply_async(args=args, producer=connection.Producer())
                return queue.get(timeout=5)

            yield publish
            queue.close()
    finally:
        app.conf.task_always_eager = eager


def run_as_worker(message):
    """What a worker's pool process does with a message: trace_task with its headers."""
    Request(message, app=app, hostname="test-worker@localhost").execute()
