"""Idempotency-Key on POST /order (Stripe semantics): one order per key and body."""

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import services
from orders.exceptions import IdempotencyKeyReused
from orders.models import IdempotencyKey, Order

logger = logging.getLogger(__name__)


def order_request_hash(
    *, name: str, address: str, price: Decimal, payment_method: str = "card"
) -> str:
    """SHA-256 of the validated order in one canonical form, so that the same order sent with
    its keys in another order, other spacing or another price notation (12.5, "12.50") matches.
    The method is in it unless it is the default: keys stored before paymentMethod existed keep
    matching their replays, and an order "card" or without paymentMethod is the same order."""
    canonical = {"name": name, "address": address, "price": f"{price:.2f}"}
    if payment_method != "card":
        canonical["paymentMethod"] = payment_method
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def order_create_idempotent(
    *,
    idempotency_key: str,
    name: str,
    address: str,
    price: Decimal,
    render: Callable[[Order], dict],
    payment_method: str = "card",
) -> tuple[IdempotencyKey, bool]:
    """Create the order once per Idempotency-Key; return the key's row, whose response_body is
    the answer to give, and whether this was a replay.

    The key row is written in the order's transaction, and its unique index decides between
    concurrent requests with one key: the second waits for the first (SQLite: the write lock
    taken at BEGIN; PostgreSQL: the index entry of the uncommitted row), then answers with what
    the first stored, or 409 if its body differs. Nobody ever sees a key "in progress"."""
    request_hash = order_request_hash(
        name=name, address=address, price=price, payment_method=payment_method
    )
    order = None
    try:
        with transaction.atomic():
            stored = IdempotencyKey.objects.filter(key=idempotency_key).first()
            if stored is None:
                order = services.order_create(
                    name=name, address=address, price=price, payment_method=payment_method
                )
                stored = IdempotencyKey.objects.create(
                    key=idempotency_key,
                    request_hash=request_hash,
                    order=order,
                    response_body=json.dumps(render(order)),
                    created_at=order.created_at,
                )
    except IntegrityError:
        # PostgreSQL: a request with the same key committed first; our order rolled back with
        # the failed INSERT (its payment was never queued). Answer with what that request stored.
        stored = IdempotencyKey.objects.filter(key=idempotency_key).first()
        if stored is None:
            raise
        order = None
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(errors={"Idempotency-Key": [IdempotencyKeyReused.message]})
    return stored, order is None


def idempotency_keys_delete_expired(*, now=None, batch_size: int | None = None) -> int:
    """Delete the keys older than ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS, a batch per transaction.
    A key is honoured until this deletes it, so it is kept at least that long."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS)
    batch_size = batch_size or settings.ORDERS_SWEEP_BATCH_SIZE
    deleted = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        deleted += IdempotencyKey.objects.filter(id__in=ids).delete()[0]
    if deleted:
        logger.info("deleted %d expired idempotency keys", deleted)
    return deleted
