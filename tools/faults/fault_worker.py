"""Test-only launcher of the Orders worker that opens a window on purpose: after Payments has
answered a batch, and before Orders applies the answer, it records the order numbers answered
(a JSON list pushed to the Redis list ANSWERED_KEY) and sleeps FAULTS_HOLD_AFTER_BATCH_SECONDS.
A scenario that waits for the record and SIGKILLs the worker then kills it in that window every
time, not by luck.

Run from orders_project/ as `python fault_worker.py worker <celery worker options>`: the same
app that `celery -A config worker` loads; production code is patched in this process only."""

import json
import os
import sys
import time

ANSWERED_KEY = "faults:batch-answered"


def hold_after_batch(**kwargs) -> None:
    """Wrap PaymentsClient.charge_batch in this process; a pool forked later inherits it."""
    import django
    import redis
    from django.apps import apps
    from django.conf import settings

    if not apps.ready:  # Celery's Django fix-up has set it up by now, as for any worker
        django.setup()

    from orders import clients

    hold = float(os.environ["FAULTS_HOLD_AFTER_BATCH_SECONDS"])
    record = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    charge_batch = clients.PaymentsClient.charge_batch

    def charge_batch_then_hold(self, orders):
        results = charge_batch(self, orders)
        record.rpush(ANSWERED_KEY, json.dumps([order.order_number for order in orders]))
        time.sleep(hold)
        return results

    clients.PaymentsClient.charge_batch = charge_batch_then_hold


def main() -> None:
    sys.path.insert(0, os.getcwd())  # as `celery -A config` finds the project's config package
    from celery import signals

    from config import celery_app

    signals.worker_init.connect(hold_after_batch, weak=False)
    celery_app.worker_main(argv=sys.argv[1:])


if __name__ == "__main__":
    main()
