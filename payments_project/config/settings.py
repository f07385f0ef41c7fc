"""Payments service settings. Everything configurable comes from the environment (see README)."""

import json
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from servicekit.env import env_bool, env_database, env_list, env_number, env_secret, env_str
from servicekit.tracing import service_name

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PAYMENTS_VAR_DIR", str(BASE_DIR / "var")))

DJANGO_ENV = env_str("DJANGO_ENV", "local")
IS_LOCAL = DJANGO_ENV == "local"
SECRET_KEY = env_secret(
    "PAYMENTS_SECRET_KEY", local_default="local-only-payments-secret-key", is_local=IS_LOCAL
)
# Off by default even locally: every error stays a JSON body, never a debug page.
DEBUG = env_bool("DJANGO_DEBUG", False)
if DEBUG and not IS_LOCAL:
    # Debug pages show tracebacks and settings to whoever gets one: never outside a local run.
    raise ImproperlyConfigured("DJANGO_DEBUG can only be on when DJANGO_ENV is 'local'")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's JS and CSS, served with the static files: /docs needs no CDN.
    "drf_spectacular_sidecar",
    "payments",
]

MIDDLEWARE = [
    # Outermost: every log line of the request carries its id, every answer is counted and timed.
    "servicekit.request_id.RequestIdMiddleware",
    "servicekit.metrics.MetricsMiddleware",
    "servicekit.middleware.BodySizeLimitMiddleware",
    # The four from servicekit.browser_middleware serve only the admin and pass by on API_PATHS. The
    # others run on every path: the security headers (nosniff and X-Frame-Options matter to a
    # JSON answer too), static files (a dictionary lookup), the allowed-hosts check.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "servicekit.browser_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "servicekit.browser_middleware.CsrfViewMiddleware",
    "servicekit.browser_middleware.AuthenticationMiddleware",
    "servicekit.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The JSON API: these paths and everything under them. Any other path (the admin, /static/,
# /docs, an unknown one) runs the whole of MIDDLEWARE.
API_PATHS = ["/payment", "/health", "/schema"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# The API answers with and without a trailing slash; no redirects that would drop a POST body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": env_database("PAYMENTS_DATABASE_URL", sqlite_path=VAR_DIR / "payments.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
# Admin: times to the second, "2026-12-02 06:08:03" (Django's en format drops seconds).
FORMAT_MODULE_PATH = ["servicekit.formats"]
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Fractions as Decimal, no NaN/Infinity, at most 32 levels of nesting (servicekit/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["servicekit.parsers.ApiJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "servicekit.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "NON_FIELD_ERRORS_KEY": "nonFieldErrors",
}
# A body over this is refused with a 413 before it is read (servicekit/middleware.py); Django's own
# cap on request.body, for a body that came without a Content-Length, is the same number. The one
# exception, POST /payment/batch, has its own limit: PAYMENTS_BATCH_MAX_BODY_BYTES below.
API_MAX_BODY_BYTES = env_number("API_MAX_BODY_BYTES", 64 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# GET /health/ready (servicekit/health.py): each check a function answering True or False.
HEALTH_CHECKS = {"database": "servicekit.health.database_ok"}

# The OpenAPI schema at /schema and Swagger UI at /docs (servicekit/openapi.py, docs/openapi/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Payments API",
    "DESCRIPTION": (
        "Processes the payment of an order, once per order number (the processor is mocked). "
        "Every route also answers with a trailing slash."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # A CharField that refuses "" says so in the schema (minLength: 1).
    "ENFORCE_NON_BLANK_FIELDS": True,
    "PREPROCESSING_HOOKS": ["servicekit.openapi.canonical_paths"],
    "ENUM_NAME_OVERRIDES": {"PaymentStatusEnum": "payments.models.PaymentStatus"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- payment processing (mocked) ------------------------------------------------------------
# The mocked auth detail Orders sends as "Authorization: Bearer <token>".
PAYMENTS_API_TOKEN = env_secret(
    "PAYMENTS_API_TOKEN", local_default="local-payments-token", is_local=IS_LOCAL
)
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
# PAYMENTS_READ_TIMEOUT_SECONDS (10 by default) and below gunicorn's worker timeout (30).
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

# One JSON object a line outside local runs, text locally; both with the request id (config/
# logging.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if IS_LOCAL else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "servicekit.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "servicekit.logging.JsonFormatter",
            "service": service_name("payments"),
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

if not IS_LOCAL:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
