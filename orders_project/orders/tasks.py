"""Thin Celery entry points: they take order numbers, call services, and are safe to run twice."""

from celery import shared_task, signals
from django.conf import settings

from orders import charging, claims, dispatch, idempotency, reconciliation, refunds, sweeps
from orders.exceptions import PaymentsUnavailable
from orders.metrics import PAYMENTS_RETRIES

# How a call to Payments (a batch of charges, a refund) is retried: only "no answer / try again"
# (PaymentsUnavailable), with exponential backoff and full jitter, bounded; a refusal
# (PaymentRejected) would fail again, and whatever exhausts its retries is picked up by the
# re-drive sweep.
PAYMENTS_CALL_RETRY = {
    "autoretry_for": (PaymentsUnavailable,),
    "max_retries": settings.ORDERS_PAYMENT_MAX_RETRIES,
    "retry_backoff": 1,
    "retry_backoff_max": settings.ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
}


@shared_task(name=dispatch.CHARGE_WAITING_ORDERS)
def charge_waiting_orders() -> int:
    return charging.orders_charge_waiting()


@shared_task(bind=True, name=dispatch.CHARGE_ORDERS, **PAYMENTS_CALL_RETRY)
def charge_orders(self, order_numbers: list[str]) -> int:
    _count_retry(self, "payment")
    return charging.orders_charge_again(order_numbers=order_numbers)


@shared_task(bind=True, name=dispatch.REFUND_PAYMENT, **PAYMENTS_CALL_RETRY)
def refund_payment(self, order_number: str) -> None:
    _count_retry(self, "refund")
    refunds.order_refund_payment(order_number=order_number)


def _count_retry(task, operation: str) -> None:
    if task.request.retries:  # this run is a retry after Payments gave no usable answer
        PAYMENTS_RETRIES.labels(operation).inc()


@shared_task(name="orders.deliver_due_orders")
def deliver_due_orders() -> int:
    return sweeps.orders_deliver_due()


@shared_task(name="orders.redrive_stuck_payments")
def redrive_stuck_payments() -> int:
    # Both are calls to Payments whose outcome Orders is still waiting for.
    waiting = sweeps.orders_redrive_stuck_payments()
    refunds = sweeps.orders_redrive_stuck_refunds()
    return waiting + len(refunds)


@shared_task(name=dispatch.RELEASE_GONE_CLAIMS)
def release_claims_of_gone_workers(ready: str) -> int:
    live = dispatch.live_workers(timeout=LIVE_WORKERS_PING_SECONDS)
    return claims.orders_release_claims_of_gone_workers(ready=ready, live_nodes=live)


# Long enough for a busy worker's main loop to answer; a worker that misses it only has its
# orders sent again, which Payments answers from what it stored (orders/claims.py).
LIVE_WORKERS_PING_SECONDS = 2.0


@signals.worker_init.connect
def start_claimant(sender=None, **kwargs):
    """The worker's main process, before its pool starts: this run's claims carry its name."""
    claims.claimant_start(node=sender.hostname)


@signals.worker_ready.connect
def release_claims_of_gone_runs(**kwargs):
    """Once the worker takes tasks, the claims of the runs that died are given back, so that
    their orders are charged now, not when their claim's clock runs out."""
    dispatch.release_claims_of_gone_workers(ready=claims.claimant())


@shared_task(name="orders.delete_expired_idempotency_keys")
def delete_expired_idempotency_keys() -> int:
    return idempotency.idempotency_keys_delete_expired()


@shared_task(bind=True, name="orders.reconcile_payments", **PAYMENTS_CALL_RETRY)
def reconcile_payments(self) -> int:
    _count_retry(self, "reconciliation")
    report = reconciliation.payments_reconcile()
    return report.applied + sum(report.reported.values())
