"""Liveness (the process answers) and readiness (its database answers)."""

from django.db import connection
from django.http import JsonResponse


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def live(request):
    return JsonResponse({"status": "ok"})


def ready(request):
    checks = {"database": _database_ok()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)
