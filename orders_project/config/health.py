"""Liveness (the process answers) and readiness (its database and broker answer), with how
many orders are stuck waiting for Payments as information."""

import logging

from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view

from config.celery_app import app as celery_app
from orders import selectors
from orders.health_details import ReconciliationDetailSerializer, reconciliation_detail

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    if celery_app.conf.task_always_eager:
        return True
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _stuck() -> dict | None:
    """Orders waiting past their deadline for Payments: informative, never a reason to fail."""
    try:
        counts = selectors.orders_stuck_count()
    except Exception:
        logger.warning("could not count the stuck orders", exc_info=True)
        return None
    return {
        "awaitingPayment": counts["awaiting_payment"],
        "awaitingRefund": counts["awaiting_refund"],
    }


class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])

    class Meta:
        ref_name = "HealthLive"


class ReadySerializer(serializers.Serializer):
    class ChecksSerializer(serializers.Serializer):
        database = serializers.BooleanField()
        broker = serializers.BooleanField()

        class Meta:
            ref_name = "HealthChecks"

    class StuckSerializer(serializers.Serializer):
        awaitingPayment = serializers.IntegerField(min_value=0)
        awaitingRefund = serializers.IntegerField(min_value=0)

        class Meta:
            ref_name = "HealthStuck"

    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = ChecksSerializer()
    stuck = StuckSerializer(
        allow_null=True, help_text="For information only; null when it could not be counted."
    )
    reconciliation = ReconciliationDetailSerializer(
        allow_null=True, help_text="For information only; null when it could not be read."
    )

    class Meta:
        ref_name = "HealthReady"


@extend_schema(operation_id="health_live", tags=["health"], responses={200: LiveSerializer})
@api_view(["GET"])
def live(request):
    return JsonResponse({"status": "ok"})


@extend_schema(
    operation_id="health_ready",
    tags=["health"],
    responses={
        200: ReadySerializer,
        503: OpenApiResponse(ReadySerializer, description="A check failed; it is named."),
    },
)
@api_view(["GET"])
def ready(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    body["stuck"] = _stuck() if checks["database"] else None
    body["reconciliation"] = reconciliation_detail() if checks["database"] else None
    return JsonResponse(body, status=503 if failing else 200)
