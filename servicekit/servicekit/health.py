"""Liveness (the process answers) and readiness (each of the service's checks passes).

The checks are the service's HEALTH_CHECKS, name -> dotted path of a function that answers True
or False and never raises: "checks" in the answer names each, and a False one makes it a 503.
HEALTH_DETAILS adds facts that are information only, never a reason to fail: name -> dotted path
of a serializer class with a `measure()` static method (None when it could not be measured);
they read the database, so they are null while the database check fails.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.module_loading import import_string
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view

from servicekit.errors import DatabaseUnavailable


def database_ok() -> bool:
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


def _ready_serializer() -> type[serializers.Serializer]:
    checks = type(
        "ChecksSerializer",
        (serializers.Serializer,),
        {name: serializers.BooleanField() for name in settings.HEALTH_CHECKS}
        | {"Meta": type("Meta", (), {"ref_name": "HealthChecks"})},
    )
    # DRF orders the fields by when they were made: status, checks, then the details.
    fields = {"status": serializers.ChoiceField(choices=["ok", "unavailable"]), "checks": checks()}
    for name, path in getattr(settings, "HEALTH_DETAILS", {}).items():
        detail = import_string(path)
        fields[name] = detail(allow_null=True, help_text=detail.help_text)
    meta = type("Meta", (), {"ref_name": "HealthReady"})
    return type("ReadySerializer", (serializers.Serializer,), fields | {"Meta": meta})


@extend_schema(operation_id="health_live", tags=["health"], responses={200: LiveSerializer})
@api_view(["GET"])
def live(request):
    return JsonResponse({"status": "ok"})


ReadySerializer = _ready_serializer()


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
    # Looked up on every call: a test can replace one check by its dotted path.
    checks = {name: import_string(path)() for name, path in settings.HEALTH_CHECKS.items()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    for name, path in getattr(settings, "HEALTH_DETAILS", {}).items():
        body[name] = import_string(path).measure() if checks.get("database", True) else None
    if not failing:
        return JsonResponse(body)
    # Not ready: a balancer stops sending requests, a client that asked may try again shortly.
    return JsonResponse(body, status=503, headers={"Retry-After": str(DatabaseUnavailable.wait)})
