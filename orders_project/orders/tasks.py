"""Thin Celery entry points: they take order numbers, call services, and are safe to run twice."""

from celery import shared_task, signals
from django.conf import settings

from orders import charging, claims, idempotency, reconciliation, refunds, sweeps, task_handles
from orders.exceptions import PaymentsUnavailable
from orders.metrics import PAYMENTS_RETRIES
from orders.webhooks import sender
from orders.webhooks import services as webhooks

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


@shared_task(name=task_handles.CHARGE_WAITING_ORDERS.name)
def charge_waiting_orders() -> int:
    return charging.orders_charge_waiting()


@shared_task(bind=True, name=task_handles.CHARGE_ORDERS.name, **PAYMENTS_CALL_RETRY)
def charge_orders(self, order_numbers: list[str]) -> int:
    _count_retry(self, "payment")
    return charging.orders_charge_again(order_numbers=order_numbers)


@shared_task(bind=True, name=task_handles.REFUND_PAYMENT.name, **PAYMENTS_CALL_RETRY)
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
