"""Thin Celery entry points: they take order numbers, call services, and are safe to run twice."""

import functools

from celery import shared_task, signals
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from orders import charging, claims, idempotency, reconciliation, refunds, sweeps, task_handles
from orders.exceptions import PaymentsUnavailable
from orders.metrics import PAYMENTS_RETRIES
from orders.webhooks import sender
from orders.webhooks import services as webhooks
from servicekit.errors import DATABASE_ERRORS

# How a call to Payments (a batch of charges, a refund) is retried: only "no answer / try again"
# (PaymentsUnavailable), with exponential backoff and full jitter, bounded; a refusal
# (PaymentRefused) would fail again, and whatever exhausts its retries is picked up by the
# re-drive sweep.
PAYMENTS_CALL_RETRY = {
    "autoretry_for": (PaymentsUnavailable,),
    "max_retries": settings.ORDERS_PAYMENT_MAX_RETRIES,
    "retry_backoff": 1,
    "retry_backoff_max": settings.ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
}

# How a task whose outcome an order waits for (a charge, a refund) is retried when the database
# is gone for a while (DATABASE_ERRORS: a restart, a failover): soon, with full jitter, up to
# DATABASE_MAX_RETRIES times (about half a minute of outage), however Payments' retries are
# spaced; whatever outlasts that is left to the re-drive sweep and to the claims' expiry.
DATABASE_MAX_RETRIES = 10
DATABASE_RETRY_BACKOFF_MAX_SECONDS = 4


def retried_while_the_database_is_gone(run):
    """The retry policy above around a bound task's body."""

    @functools.wraps(run)
    def body(task, *args, **kwargs):
        try:
            return run(task, *args, **kwargs)
        except DATABASE_ERRORS as exc:
            countdown = get_exponential_backoff_interval(
                factor=1,
                retries=task.request.retries,
                maximum=DATABASE_RETRY_BACKOFF_MAX_SECONDS,
                full_jitter=True,
            )
            try:
                raise task.retry(
                    exc=exc, countdown=countdown, max_retries=DATABASE_MAX_RETRIES
                ) from exc
            finally:
                # Celery keeps a max_retries given to retry() on the task object, which outlives
                # this run, for its autoretry to use next: Payments' retries would be bounded by
                # this policy's. Celery's autoretry drops it the same way after its own retry.
                task.__dict__.pop("override_max_retries", None)

    return body


@shared_task(bind=True, name=task_handles.CHARGE_WAITING_ORDERS.name)
@retried_while_the_database_is_gone
def charge_waiting_orders(self) -> int:
    return charging.orders_charge_waiting()


@shared_task(bind=True, name=task_handles.CHARGE_ORDERS.name, **PAYMENTS_CALL_RETRY)
@retried_while_the_database_is_gone
def charge_orders(self, order_numbers: list[str]) -> int:
    _count_retry(self, "payment")
    return charging.orders_charge_again(order_numbers=order_numbers)


@shared_task(bind=True, name=task_handles.REFUND_PAYMENT.name, **PAYMENTS_CALL_RETRY)
@retried_while_the_database_is_gone
def refund_payment(self, order_number: str) -> None:
    _count_retry(self, "refund")
    refunds.order_refund_payment(order_number=order_number)


def _count_retry(task, operation: str) -> None:
    if task.request.retries:  # this run is a retry after Payments gave no usable answer
        PAYMENTS_RETRIES.labels(operation).inc()


@shared_task(name=task_handles.DELIVER_DUE_ORDERS.name)
def deliver_due_orders() -> int:
    return sweeps.orders_deliver_due()


@shared_task(name=task_handles.REDRIVE_STUCK_PAYMENTS.name)
def redrive_stuck_payments() -> int:
    # Both are calls to Payments whose outcome Orders is still waiting for.
    waiting = sweeps.orders_redrive_stuck_payments()
    refunds = sweeps.orders_redrive_stuck_refunds()
    return waiting + len(refunds)


@shared_task(name=task_handles.RELEASE_CLAIMS_OF_GONE_WORKERS.name)
def release_claims_of_gone_workers(ready: str) -> int:
    live = claims.live_workers(timeout=claims.LIVE_WORKERS_PING_SECONDS)
    released = claims.orders_release_claims_of_gone_workers(ready=ready, live_nodes=live)
    return released + sender.deliveries_release_claims_of_gone_workers(ready=ready, live_nodes=live)


@signals.worker_init.connect
def start_claimant(sender=None, **kwargs):
    """The worker's main process, before its pool starts: this run's claims carry its name."""
    claims.claimant_start(node=sender.hostname)


@signals.worker_ready.connect
def release_claims_of_gone_runs(**kwargs):
    """Once the worker takes tasks, the claims of the runs that died are given back, so that
    their orders are charged now, not when their claim's clock runs out."""
    # On the sweeps' queue, which workers serve first, so it is not stuck behind a backlog.
    task_handles.RELEASE_CLAIMS_OF_GONE_WORKERS.enqueue(
        claims.claimant(), queue=settings.SWEEPS_QUEUE
    )


@shared_task(name=task_handles.DELETE_EXPIRED_IDEMPOTENCY_KEYS.name)
def delete_expired_idempotency_keys() -> int:
    return idempotency.idempotency_keys_delete_expired()


@shared_task(bind=True, name=task_handles.RECONCILE_PAYMENTS.name, **PAYMENTS_CALL_RETRY)
def reconcile_payments(self) -> int:
    _count_retry(self, "reconciliation")
    report = reconciliation.payments_reconcile()
    return report.applied + sum(report.reported.values())


@shared_task(name=task_handles.SEND_WEBHOOKS.name)
def send_webhooks() -> int:
    return sender.deliveries_send_due()


@shared_task(name=task_handles.REDRIVE_WEBHOOKS.name)
def redrive_webhooks() -> int:
    return sender.deliveries_redrive()


@shared_task(name=task_handles.PRUNE_WEBHOOK_DELIVERIES.name)
def prune_webhook_deliveries() -> int:
    return webhooks.deliveries_prune()
