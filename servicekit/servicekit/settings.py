"""The settings both services share, as constants and small builders their config/settings.py
calls; each service keeps its own names, routes and limits."""

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from servicekit.env import env_bool, env_database, env_list, env_number, env_secret, env_str
from servicekit.tracing import service_name

_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")

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
    # Counts failed admin logins and locks the combination out (admin_login_settings below).
    "axes",
    # The chassis' own start-up hooks (servicekit/apps.py).
    "servicekit",
]

MIDDLEWARE = [
    # Outermost: every log line of the request carries its id, every answer is counted and timed.
    "servicekit.request_id.RequestIdMiddleware",
    "servicekit.metrics.MetricsMiddleware",
    "servicekit.middleware.BodySizeLimitMiddleware",
    # Django's own stack. Security, Common (the Host check), CSRF and X-Frame-Options run on
    # every path; sessions, the logged-in user and messages on the admin's only (the same
    # classes, scoped by servicekit/middleware.py): the APIs use none of them.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "servicekit.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "servicekit.middleware.AuthenticationMiddleware",
    "servicekit.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into the lockout page. Admin paths
    # only, like the session and the user it works with.
    "servicekit.admin_lockout.AxesMiddleware",
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


def service_settings(*, name: str, base_dir: Path, apps: list[str]) -> dict:
    """The head both services' settings wrote out in full: VAR_DIR (<NAME>_VAR_DIR, default
    <base_dir>/var), DJANGO_ENV and IS_LOCAL, the apps (the platform's, then `apps`), the database
    (<NAME>_DATABASE_URL, default SQLite in VAR_DIR), the body limit, the trusted proxies
    (<NAME>_TRUSTED_PROXY_HOPS), the secret key (<NAME>_SECRET_KEY), debug, hosts, Django's
    middleware and templates, the language and time zone, static files, DRF, HTTPS and the
    admin's login lockout. A service's settings take them with globals().update(...) and state
    the rest."""
    var_dir = Path(env_str(f"{name.upper()}_VAR_DIR", str(base_dir / "var")))
    django_env = env_str("DJANGO_ENV", "local")
    is_local = django_env == "local"
    allowed_hosts = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
    # A body over this is refused with a 413 before it is read (servicekit/middleware.py);
    # Django's own cap on request.body, for a body that came without a Content-Length, is the
    # same number.
    max_body_bytes = env_number("API_MAX_BODY_BYTES", 64 * 1024, minimum=1)
    # How many proxies in front of the service append to X-Forwarded-For: whose address a request
    # is counted against (servicekit/client_address.py). 0: the peer's, the header is ignored.
    trusted_proxy_hops = env_number(f"{name.upper()}_TRUSTED_PROXY_HOPS", 0, maximum=10)
    return {
        "VAR_DIR": var_dir,
        "DJANGO_ENV": django_env,
        "IS_LOCAL": is_local,
        "INSTALLED_APPS": [*PLATFORM_APPS, *apps],
        "DATABASES": {
            "default": env_database(
                f"{name.upper()}_DATABASE_URL", sqlite_path=var_dir / f"{name}.sqlite3"
            )
        },
        "API_MAX_BODY_BYTES": max_body_bytes,
        "TRUSTED_PROXY_HOPS": trusted_proxy_hops,
        "DATA_UPLOAD_MAX_MEMORY_SIZE": max_body_bytes,
        "SECRET_KEY": env_secret(
            f"{name.upper()}_SECRET_KEY",
            local_default=f"local-only-{name}-secret-key",
            is_local=is_local,
        ),
        "DEBUG": debug(is_local=is_local),
        # Prometheus scrapes a pod by its IP (the Host it sends): Kubernetes gives it as POD_IP.
        "ALLOWED_HOSTS": allowed_hosts + env_list("POD_IP", []),
        "CSRF_TRUSTED_ORIGINS": env_list("DJANGO_CSRF_TRUSTED_ORIGINS", []),
        # GET /metrics asks for "Authorization: Bearer <token>" when this is set (metrics.py).
        "METRICS_BEARER_TOKEN": env_str("METRICS_BEARER_TOKEN", ""),
        "MIDDLEWARE": MIDDLEWARE,
        "ROOT_URLCONF": "config.urls",
        "WSGI_APPLICATION": "config.wsgi.application",
        # The API answers with and without a trailing slash; no redirect that drops a POST body.
        "APPEND_SLASH": False,
        "TEMPLATES": TEMPLATES,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LANGUAGE_CODE": "en-us",
        "TIME_ZONE": "UTC",
        "USE_TZ": True,
        # Admin: times to the second, "2026-12-02 06:08:03" (Django's en format drops seconds).
        "FORMAT_MODULE_PATH": ["servicekit.formats"],
        "STATIC_URL": "static/",
        "STATIC_ROOT": var_dir / "static",
        "REST_FRAMEWORK": REST_FRAMEWORK,
        **https_settings(is_local=is_local),
        **admin_login_settings(),
    }


def debug(*, is_local: bool) -> bool:
    """DJANGO_DEBUG, off by default even locally: every error stays a JSON body."""
    value = env_bool("DJANGO_DEBUG", False)
    if value and not is_local:
        # Debug pages show tracebacks and settings to whoever gets one: never outside local runs.
        raise ImproperlyConfigured("DJANGO_DEBUG can only be on when DJANGO_ENV is 'local'")
    return value


def https_settings(*, is_local: bool) -> dict:
    """Where TLS ends decides these, so they come from the environment, off by default: behind
    a proxy that ends TLS, DJANGO_SECURE_PROXY_SSL_HEADER names the header it sets to "https";
    HSTS and the redirect are for a deployment that is served over HTTPS only.
    A service's settings take them with globals().update(...)."""
    proxy_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
    if proxy_header and not _HEADER_NAME.fullmatch(proxy_header):
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must be a header name, got {proxy_header!r}"
        )
    secure_cookies = env_bool("DJANGO_SECURE_COOKIES", not is_local)
    return {
        "SECURE_SSL_REDIRECT": env_bool("DJANGO_SECURE_SSL_REDIRECT", False),
        # Probes and scrapers call the pod over plain HTTP; a redirect would fail them.
        "SECURE_REDIRECT_EXEMPT": [r"^health/", r"^metrics/?$"],
        "SECURE_HSTS_SECONDS": int(env_number("DJANGO_SECURE_HSTS_SECONDS", 0)),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False),
        "SECURE_HSTS_PRELOAD": env_bool("DJANGO_SECURE_HSTS_PRELOAD", False),
        "SECURE_PROXY_SSL_HEADER": (
            ("HTTP_" + proxy_header.upper().replace("-", "_"), "https") if proxy_header else None
        ),
        "SESSION_COOKIE_SECURE": secure_cookies,
        "CSRF_COOKIE_SECURE": secure_cookies,
    }


def admin_login_settings() -> dict:
    """The admin's login lockout (django-axes): after ADMIN_LOGIN_MAX_FAILURES failed logins for
    one username from one address (servicekit/client_address.py), that combination is refused for
    ADMIN_LOGIN_COOLOFF_MINUTES after the last counted failure, even with the right password; the
    page says so (servicekit/admin_lockout.py). Another username, or the same one from another
    address, is not locked: a guesser cannot lock the real admin out from elsewhere. Failures are
    rows in the service's database (axes' tables), so every web process counts the same ones."""
    return {
        # Axes' backend only refuses a locked-out combination; Django's checks the password.
        "AUTHENTICATION_BACKENDS": [
            "axes.backends.AxesStandaloneBackend",
            "django.contrib.auth.backends.ModelBackend",
        ],
        "AXES_FAILURE_LIMIT": env_number("ADMIN_LOGIN_MAX_FAILURES", 5, minimum=1),
        "AXES_COOLOFF_TIME": timedelta(
            minutes=env_number("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
        ),
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "AXES_CLIENT_IP_CALLABLE": "servicekit.client_address.axes_client_address",
        # A refused attempt during the lockout does not restart it: the page can say when it ends.
        "AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT": False,
        # A successful login clears the failures before it: a few typos do not add up over days.
        "AXES_RESET_ON_SUCCESS": True,
        "AXES_LOCKOUT_CALLABLE": "servicekit.admin_lockout.lockout_response",
        # Axes looks for its own middleware by name; the chassis runs it as a subclass scoped to
        # the admin's paths (servicekit/admin_lockout.py), which it does not recognise.
        "SILENCED_SYSTEM_CHECKS": ["axes.W002"],
    }


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
        # django-axes says "AXES: BEGIN ..." at INFO in every process it starts in; its failures
        # and lockouts are warnings and still show.
        "loggers": {"axes.apps": {"level": "WARNING"}, **(loggers or {})},
    }
