"""Payments service settings. Configured from the environment: docs/settings.md."""

import json
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from servicekit import settings as base
from servicekit.env import env_bool, env_list, env_number, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# VAR_DIR, DJANGO_ENV, the apps, the database, the body limit, the secret key, debug, hosts,
# middleware, templates, language and time zone, static files, DRF and HTTPS: the platform's,
# written once (servicekit/settings.py), read from PAYMENTS_* and the shared variables.
shared = base.service_settings(name="payments", base_dir=BASE_DIR, apps=["payments"])
globals().update(shared)
IS_LOCAL = shared["IS_LOCAL"]  # for the settings below

# GET /health/ready (servicekit/health.py): each check a function answering True or False.
HEALTH_CHECKS = {"database": "servicekit.health.database_ok"}

# The OpenAPI schema at /schema and Swagger UI at /docs (servicekit/openapi.py, docs/openapi/).
SPECTACULAR_SETTINGS = base.spectacular_settings(
    title="Payments API",
    description=(
        "Processes the payment of an order, once per order number (the processor is mocked). "
        "Every route also answers with a trailing slash."
    ),
    enum_overrides={"PaymentStatusEnum": "payments.models.PaymentStatus"},
)

# --- payment processing (mocked) ------------------------------------------------------------
# The tokens accepted as "Authorization: Bearer <token>" (payments/auth.py): each one in
# PAYMENTS_API_TOKENS (comma-separated) and PAYMENTS_API_TOKEN, the one Orders sends. Two at once
# rotate the token without a refused call: accept the new one beside the old, switch Orders to
# it, then drop the old. At least one outside local runs.
_tokens = [*env_list("PAYMENTS_API_TOKENS", []), env_str("PAYMENTS_API_TOKEN", "").strip()]
PAYMENTS_API_TOKENS = tuple(dict.fromkeys(token for token in _tokens if token))
if not PAYMENTS_API_TOKENS:
    if not IS_LOCAL:
        raise ImproperlyConfigured(
            "PAYMENTS_API_TOKENS or PAYMENTS_API_TOKEN must be set when DJANGO_ENV is not 'local'"
        )
    PAYMENTS_API_TOKENS = ("local-payments-token",)
PAYMENTS_CONFIRM_PROBABILITY = env_number(
    "PAYMENTS_CONFIRM_PROBABILITY", 0.5, kind=float, minimum=0, maximum=1
)
# The default page of the lists (servicekit/pagination.py).
API_PAGE_SIZE = env_number("PAYMENTS_PAGE_SIZE", 50, minimum=1)

# --- payment methods (payments/providers/) --------------------------------------------------
# Method name -> {"class": provider class path, "options": {...}, "description": "..."}: the
# registry is built from this once, at start (PaymentsConfig.ready), and a bad class path or bad
# options stop the service there. PAYMENTS_METHODS in the environment is that JSON object and
# replaces the default below as a whole. The test methods (outcomes chosen by name, for tests and
# demos) are on by default in local runs only; outside, PAYMENTS_TEST_METHODS=true allows them,
# and without it a test method named in PAYMENTS_METHODS is refused at start.
PAYMENTS_TEST_METHODS = env_bool("PAYMENTS_TEST_METHODS", IS_LOCAL)
# How late test_timeout_then_confirm answers its first attempt: above Orders'
# PAYMENTS_READ_TIMEOUT_SECONDS (10 by default), so that the caller gives up first.
PAYMENTS_TEST_SLOW_ANSWER_SECONDS = env_number(
    "PAYMENTS_TEST_SLOW_ANSWER_SECONDS", 12.0, kind=float
)
_PROVIDERS = "payments.providers."
PAYMENTS_METHODS = {
    "card": {"class": _PROVIDERS + "builtin.CardProvider"},  # PAYMENTS_CONFIRM_PROBABILITY
    "cash_on_delivery": {"class": _PROVIDERS + "builtin.CashOnDeliveryProvider"},
}
if PAYMENTS_TEST_METHODS:
    PAYMENTS_METHODS |= {
        "test_confirm": {"class": _PROVIDERS + "testing.ConfirmProvider"},
        "test_decline": {"class": _PROVIDERS + "testing.DeclineProvider"},
        "test_unavailable_then_confirm": {
            "class": _PROVIDERS + "testing.UnavailableThenConfirmProvider",
            "options": {"failures": 2},
        },
        "test_timeout_then_confirm": {
            "class": _PROVIDERS + "testing.TimeoutThenConfirmProvider",
            "options": {"answer_after_seconds": PAYMENTS_TEST_SLOW_ANSWER_SECONDS},
        },
    }
if _methods_json := env_str("PAYMENTS_METHODS", ""):
    try:
        PAYMENTS_METHODS = json.loads(_methods_json)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PAYMENTS_METHODS must be a JSON object: {exc}") from None
# POST /payment/batch: at most this many payments in one call (Orders sends ~100 at a time).
PAYMENTS_BATCH_MAX_ITEMS = env_number("PAYMENTS_BATCH_MAX_ITEMS", 500, minimum=1)
# The body limit of POST /payment/batch alone; every other route keeps API_MAX_BODY_BYTES, and
# Django's DATA_UPLOAD_MAX_MEMORY_SIZE stays at it too (the admin's forms, request.body). 500
# payments with the longest name and address, escaped as \uXXXX, are ~2.2 MB: 64 KiB would cap
# such a batch at 15. servicekit/middleware.py asks the route for its limit, and the route's parser
# (payments/parsers.py) enforces it while reading, without request.body.
PAYMENTS_BATCH_MAX_BODY_BYTES = env_number(
    "PAYMENTS_BATCH_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1
)

# One JSON object a line outside local runs, text locally; both with the request id
# (servicekit/settings.py).
LOG_FORMAT = base.log_format(is_local=IS_LOCAL)
LOGGING = base.logging_config(service="payments", log_format=LOG_FORMAT)
