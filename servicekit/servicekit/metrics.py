"""Prometheus metrics: the rate, latency and status of every request, and GET /metrics.

gunicorn serves from several processes: with PROMETHEUS_MULTIPROC_DIR set (docker/run_local.py,
the container entrypoint) each process writes its samples to files there and a scrape adds them
up; without it (tests, manage.py runserver) the process's own registry answers.

The middleware answers /metrics itself, ahead of CommonMiddleware: a scraper addresses a pod by
its IP, which is no allowed host. Labels are bounded: a known method or "other", the URL
pattern's name (never the raw path) and the status class.
"""

import os
import time

from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from servicekit.errors import error_body

PATHS = frozenset({"/metrics", "/metrics/"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LABELS = ["method", "route", "status"]

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", LABELS)
LATENCY = Histogram("http_request_duration_seconds", "Time to answer an HTTP request.", LABELS)

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
    if path in PATHS:
        return "metrics"
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name  # "order-status", "admin:index": a pattern's name, bounded
    return "static" if path.startswith("/static/") else "unmatched"


def metrics_response(request) -> HttpResponse:
    if request.method not in {"GET", "HEAD"}:
        body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
        return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        path = request.path_info
        response = metrics_response(request) if path in PATHS else self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        labels = (method, route_of(request, path), f"{response.status_code // 100}xx")
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response
