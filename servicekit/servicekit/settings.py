"""The settings both services share, as constants and small builders their config/settings.py
calls; each service keeps its own names, routes and limits."""

from django.core.exceptions import ImproperlyConfigured

from servicekit.env import env_bool, env_str
from servicekit.tracing import service_name

PLATFORM_APPS = [
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
]

MIDDLEWARE = [
    # Outermost: every log line of the request carries its id, every answer is counted and timed.
    "servicekit.request_id.RequestIdMiddleware",
    "servicekit.metrics.MetricsMiddleware",
    "servicekit.middleware.BodySizeLimitMiddleware",
    # The four from servicekit.browser_middleware serve only the admin and pass by on API_PATHS.
    # The others run on every path: the security headers (nosniff and X-Frame-Options matter to
    # a JSON answer too), static files (a dictionary lookup), the allowed-hosts check.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "servicekit.browser_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "servicekit.browser_middleware.CsrfViewMiddleware",
    "servicekit.browser_middleware.AuthenticationMiddleware",
    "servicekit.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Fractions as Decimal, no NaN/Infinity, at most 32 levels of nesting (servicekit/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["servicekit.parsers.ApiJSONParser"],
    # No user accounts on the APIs (Payments checks its token in its views); the admin has its
    # own login.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "servicekit.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    # RFC 3339 in UTC (each service's TIME_ZONE), always six fraction digits: DRF's default drops
    # the fraction when the microseconds are 0, and timestamps of two widths sort wrong as text.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "NON_FIELD_ERRORS_KEY": "nonFieldErrors",
}


def debug(*, is_local: bool) -> bool:
    """DJANGO_DEBUG, off by default even locally: every error stays a JSON body."""
    value = env_bool("DJANGO_DEBUG", False)
    if value and not is_local:
        # Debug pages show tracebacks and settings to whoever gets one: never outside local runs.
        raise ImproperlyConfigured("DJANGO_DEBUG can only be on when DJANGO_ENV is 'local'")
    return value


def spectacular_settings(*, title: str, description: str, enum_overrides: dict) -> dict:
    """The OpenAPI schema at /schema and Swagger UI at /docs (servicekit/openapi.py)."""
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        # A CharField that refuses "" says so in the schema (minLength: 1).
        "ENFORCE_NON_BLANK_FIELDS": True,
        "PREPROCESSING_HOOKS": ["servicekit.openapi.canonical_paths"],
        # drf-spectacular's default enum hook, then the HTTP server's own answers.
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "servicekit.openapi.server_answers",
        ],
        "ENUM_NAME_OVERRIDES": enum_overrides,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }


def log_format(*, is_local: bool) -> str:
    """LOG_FORMAT: one JSON object a line outside local runs, text locally."""
    value = env_str("LOG_FORMAT", "text" if is_local else "json")
    if value not in {"json", "text"}:
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {value!r}")
    return value


def logging_config(*, service: str, log_format: str, loggers: dict | None = None) -> dict:
    """LOGGING: every line with the request id (servicekit/logging.py), to the console."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "servicekit.logging.RequestIdFilter"}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "servicekit.logging.JsonFormatter", "service": service_name(service)},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        **({"loggers": loggers} if loggers else {}),
    }
