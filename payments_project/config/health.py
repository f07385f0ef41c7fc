"""Liveness (the process answers) and readiness (its database answers)."""

from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])

    class Meta:
        ref_name = "HealthLive"


class ReadySerializer(serializers.Serializer):
    class ChecksSerializer(serializers.Serializer):
        database = serializers.BooleanField()

        class Meta:
            ref_name = "HealthChecks"

    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = ChecksSerializer()

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
    checks = {"database": _database_ok()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)
