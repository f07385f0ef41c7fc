"""One handle per task of orders/tasks.py: code that queues a task does it through its handle,
so that services never import tasks (tasks import services), and a reader goes from the handle
to the function it runs (named beside each handle).

The beat schedule (config/settings.py, CELERY_BEAT_SCHEDULE) names the periodic tasks with the
same strings: settings cannot import the app. tests/orders/test_task_handles.py checks that
every handle names a registered task, every task has a handle, and the schedule names handles."""

from dataclasses import dataclass

from config.celery_app import app


@dataclass(frozen=True)
class TaskHandle:
    name: str  # the name the task is registered under (shared_task(name=...))

    def enqueue(self, *args, **options) -> None:
        """Queue the task with these positional arguments; `options` are apply_async's
        (countdown, queue, retries). Raises what the broker raises."""
        # Through the registered task, not app.send_task(): tests run tasks eagerly, which
        # send_task ignores.
        app.tasks[self.name].apply_async(args=args, **options)


# orders.tasks.charge_waiting_orders: the charger, woken by orders/wake_up.py.
CHARGE_WAITING_ORDERS = TaskHandle("orders.charge_waiting_orders")
# orders.tasks.charge_orders: the retry of a batch that got no usable answer (orders/charging.py).
CHARGE_ORDERS = TaskHandle("orders.charge_orders")
# orders.tasks.refund_payment: the refund of a cancelled order (orders/refunds.py).
REFUND_PAYMENT = TaskHandle("orders.refund_payment")
# orders.tasks.release_claims_of_gone_workers: queued as a worker becomes ready (orders/claims.py).
RELEASE_CLAIMS_OF_GONE_WORKERS = TaskHandle("orders.release_claims_of_gone_workers")
# orders.tasks.send_webhooks: the webhook sender, woken by orders/webhooks/outbox.py.
SEND_WEBHOOKS = TaskHandle("orders.send_webhooks")

# Queued by the beat schedule:
# orders.tasks.deliver_due_orders (orders/sweeps.py)
DELIVER_DUE_ORDERS = TaskHandle("orders.deliver_due_orders")
# orders.tasks.redrive_stuck_payments (orders/sweeps.py)
REDRIVE_STUCK_PAYMENTS = TaskHandle("orders.redrive_stuck_payments")
# orders.tasks.delete_expired_idempotency_keys (orders/idempotency.py)
DELETE_EXPIRED_IDEMPOTENCY_KEYS = TaskHandle("orders.delete_expired_idempotency_keys")
# orders.tasks.reconcile_payments (orders/reconciliation.py)
RECONCILE_PAYMENTS = TaskHandle("orders.reconcile_payments")
# orders.tasks.redrive_webhooks (orders/webhooks/sender.py)
REDRIVE_WEBHOOKS = TaskHandle("orders.redrive_webhooks")
# orders.tasks.prune_webhook_deliveries (orders/webhooks/services.py)
PRUNE_WEBHOOK_DELIVERIES = TaskHandle("orders.prune_webhook_deliveries")

ALL = (
    CHARGE_WAITING_ORDERS,
    CHARGE_ORDERS,
    REFUND_PAYMENT,
    RELEASE_CLAIMS_OF_GONE_WORKERS,
    SEND_WEBHOOKS,
    DELIVER_DUE_ORDERS,
    REDRIVE_STUCK_PAYMENTS,
    DELETE_EXPIRED_IDEMPOTENCY_KEYS,
    RECONCILE_PAYMENTS,
    REDRIVE_WEBHOOKS,
    PRUNE_WEBHOOK_DELIVERIES,
)
