"""Thin Celery entry points: they take order numbers, call services, and are safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders import selectors, services
from orders.exceptions import PaymentsUnavailable


@shared_task(
    name="orders.request_payment",
    # Only "no answer / try again" is retried; a refusal (PaymentRejected) would fail again.
    autoretry_for=(PaymentsUnavailable,),
    max_retries=settings.ORDERS_PAYMENT_MAX_RETRIES,
    retry_backoff=1,
    retry_backoff_max=settings.ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
)
def request_payment(order_number: str) -> None:
    services.order_request_payment(order_number=order_number)


@shared_task(name="orders.deliver_due_orders")
def deliver_due_orders() -> int:
    return services.orders_deliver_due()


@shared_task(name="orders.redrive_stuck_payments")
def redrive_stuck_payments() -> int:
    """Queue the payment again for orders whose task was lost or ran out of retries."""
    cutoff = timezone.now() - timedelta(seconds=settings.ORDERS_PAYMENT_STUCK_AFTER_SECONDS)
    numbers = selectors.order_numbers_awaiting_payment(
        created_before=cutoff, limit=settings.ORDERS_SWEEP_BATCH_SIZE
    )
    for number in numbers:
        request_payment.delay(number)
    return len(numbers)
