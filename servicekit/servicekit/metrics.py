"""Prometheus metrics: the rate, latency and status of every request, and GET /metrics.

The web server serves from several processes: with PROMETHEUS_MULTIPROC_DIR set
(tools/launcher/run_local.py, the container entrypoint) each process writes its samples to files
there and a scrape adds them up; without it (tests, manage.py runserver) the process's own
registry answers.

/metrics is prometheus_client's own Django view, routed in servicekit/urls.py, behind an optional
bearer token (METRICS_BEARER_TOKEN). Labels are bounded: a known method or "other", the URL
pattern's name (never the raw path) and the status class.
"""

import hmac
import os
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.django import PrometheusDjangoView

from servicekit.errors import error_body

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LABELS = ["method", "route", "status"]

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", LABELS)
LATENCY = Histogram("http_request_duration_seconds", "Time to answer an HTTP request.", LABELS)
# The admission gate's (servicekit/admission.py), by lane ("api" or "probes"): requests answered
# 503 because no slot was free soon enough, and how long those that found every slot taken waited.
SHED = Counter(
    "http_requests_shed_total", "Requests shed with a 503: no slot free in time.", ["lane"]
)
QUEUE_WAIT = Histogram(
    "http_request_queue_seconds",
    "Time a request that found every slot taken waited for one (admitted or shed).",
    ["lane"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# Collectors run at scrape time in the scraping process (a GROUP BY, not a sample per process).
_scrape_collectors: list = []


def register_scrape_collector(collector) -> None:
    _scrape_collectors.append(collector)


class _DefaultRegistry:
    def collect(self):
        return REGISTRY.collect()


def scrape_registry(*, collectors: bool = True) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    for collector in _scrape_collectors if collectors else ():
        registry.register(collector)
    return registry


def route_of(request, path: str) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name  # "order-status", "admin:index", "metrics": bounded
    return "static" if path.startswith("/static/") else "unmatched"


def _authorized(request) -> bool:
    expected = settings.METRICS_BEARER_TOKEN
    if not expected:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


_prometheus_view = None


@csrf_exempt
def metrics_view(request):
    """prometheus_client's view, for GET and HEAD, to a scraper that has the token if one is
    set; every other answer in the service's JSON error shape."""
    global _prometheus_view
    if request.method not in {"GET", "HEAD"}:
        body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
        return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
    if not _authorized(request):
        body = error_body("not_authenticated", "A valid bearer token is required.")
        return JsonResponse(body, status=401, headers={"WWW-Authenticate": "Bearer"})
    if _prometheus_view is None:
        # Built at the first scrape, after every app registered its scrape-time collectors.
        _prometheus_view = PrometheusDjangoView.as_view(registry=scrape_registry())
    return _prometheus_view(request)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        labels = (method, route_of(request, request.path_info), f"{response.status_code // 100}xx")
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response
