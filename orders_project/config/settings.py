"""Orders service settings. Configured from the environment: docs/settings.md."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from servicekit import settings as base
from servicekit.env import env_bool, env_list, env_number, env_rate, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# VAR_DIR, DJANGO_ENV, the apps, the database, the body limit, the secret key, debug, hosts,
# middleware, templates, language and time zone, static files, DRF and HTTPS: the platform's,
# written once (servicekit/settings.py), read from ORDERS_* and the shared variables.
shared = base.service_settings(
    name="orders", base_dir=BASE_DIR, apps=["django_celery_beat", "orders"]
)
globals().update(shared)
VAR_DIR, IS_LOCAL = shared["VAR_DIR"], shared["IS_LOCAL"]  # for the settings below

# GET /health/ready (servicekit/health.py): each check a function answering True or False; the
# details are information only, never a reason to answer 503.
HEALTH_CHECKS = {
    "database": "servicekit.health.database_ok",
    "broker": "orders.health.broker_ok",
}
HEALTH_DETAILS = {
    "stuck": "orders.health.StuckSerializer",
    "reconciliation": "orders.health.ReconciliationSerializer",
    "webhooks": "orders.webhooks.health.WebhooksSerializer",
}

# The OpenAPI schema at /schema and Swagger UI at /docs (servicekit/openapi.py, docs/openapi/).
SPECTACULAR_SETTINGS = base.spectacular_settings(
    title="Orders API",
    description=(
        "Takes orders and tracks their state: created, confirmed, delivered or cancelled. "
        "Every route also answers with a trailing slash."
    ),
    enum_overrides={
        "OrderStateEnum": "orders.models.OrderState",
        "OrderEventKindEnum": "orders.models.OrderEventKind",
    },
)

# --- the order flow -------------------------------------------------------------------------
PAYMENTS_URL = env_str("PAYMENTS_URL", "http://127.0.0.1:3000").rstrip("/")
PAYMENTS_API_TOKEN = env_secret(
    "PAYMENTS_API_TOKEN", local_default="local-payments-token", is_local=IS_LOCAL
)
PAYMENTS_CONNECT_TIMEOUT_SECONDS = env_number("PAYMENTS_CONNECT_TIMEOUT_SECONDS", 3.0, kind=float)
PAYMENTS_READ_TIMEOUT_SECONDS = env_number("PAYMENTS_READ_TIMEOUT_SECONDS", 10.0, kind=float)
# --- payment methods ------------------------------------------------------------------------
# The methods POST /order accepts as paymentMethod: from settings, not asked of Payments at
# start, so Orders starts and takes orders while Payments is down or still starting (the order
# row is the outbox; nothing on the way in waits for Payments), and in any start order under
# compose or Kubernetes. The defaults mirror Payments' (the same PAYMENTS_TEST_METHODS switch);
# a method Payments does not know is refused by it per order ("invalid" naming paymentMethod,
# orders_payment_refusals_total), so a mismatch never charges anything.
_TEST_METHODS = [
    "test_confirm",
    "test_decline",
    "test_unavailable_then_confirm",
    "test_timeout_then_confirm",
]
ORDERS_PAYMENT_METHODS = env_list(
    "ORDERS_PAYMENT_METHODS",
    ["card", "cash_on_delivery"]
    + (_TEST_METHODS if env_bool("PAYMENTS_TEST_METHODS", IS_LOCAL) else []),
)
ORDERS_PAYMENT_MAX_RETRIES = env_number("ORDERS_PAYMENT_MAX_RETRIES", 5)
ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS = env_number(
    "ORDERS_PAYMENT_RETRY_BACKOFF_MAX_SECONDS", 60
)
# Orders are charged in batches of at most this many, with one call to Payments each (at most
# Payments' PAYMENTS_BATCH_MAX_ITEMS, 500 by default).
ORDERS_PAYMENT_BATCH_SIZE = env_number("ORDERS_PAYMENT_BATCH_SIZE", 100, minimum=1, maximum=500)
# At most one wake-up of the charger is pending for this long (orders/wake_up.py).
ORDERS_CHARGE_WAKE_UP_GUARD_MS = env_number("ORDERS_CHARGE_WAKE_UP_GUARD_MS", 1000, minimum=1)
ORDERS_DELIVERY_DELAY_SECONDS = env_number("ORDERS_DELIVERY_DELAY_SECONDS", 10)
ORDERS_DELIVERY_SWEEP_SECONDS = env_number("ORDERS_DELIVERY_SWEEP_SECONDS", 1, minimum=1)
ORDERS_PAYMENT_STUCK_AFTER_SECONDS = env_number(
    "ORDERS_PAYMENT_STUCK_AFTER_SECONDS", 120, minimum=1
)
ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS = env_number(
    "ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS", 30, minimum=1
)
ORDERS_SWEEP_BATCH_SIZE = env_number("ORDERS_SWEEP_BATCH_SIZE", 500, minimum=1)
# Reconciliation (orders/reconciliation.py) compares Payments' changes with Orders this often,
# leaving the decisions younger than ORDERS_RECONCILIATION_SETTLE_SECONDS to the charger that
# is applying them.
ORDERS_RECONCILIATION_SWEEP_SECONDS = env_number(
    "ORDERS_RECONCILIATION_SWEEP_SECONDS", 30, minimum=1
)
ORDERS_RECONCILIATION_SETTLE_SECONDS = env_number(
    "ORDERS_RECONCILIATION_SETTLE_SECONDS", 10, minimum=0
)
# An Idempotency-Key of POST /order is honoured at least this long, then deleted by a sweep.
ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS = env_number(
    "ORDERS_IDEMPOTENCY_KEY_TTL_SECONDS", 86400, minimum=1
)
ORDERS_IDEMPOTENCY_KEY_SWEEP_SECONDS = env_number(
    "ORDERS_IDEMPOTENCY_KEY_SWEEP_SECONDS", 3600, minimum=1
)
# --- webhooks (orders/webhooks/, docs/webhooks.md) -------------------------------------------
# The waits after each failed attempt, in seconds: after the last, the delivery is given up and
# its subscription disabled. Svix's schedule, about a day and a half in all.
_SVIX_SCHEDULE = ["5", "300", "1800", "7200", "18000", "36000", "36000"]
try:
    ORDERS_WEBHOOK_RETRY_SCHEDULE = [
        int(seconds) for seconds in env_list("ORDERS_WEBHOOK_RETRY_SCHEDULE", _SVIX_SCHEDULE)
    ]
except ValueError:
    raise ImproperlyConfigured(
        "ORDERS_WEBHOOK_RETRY_SCHEDULE: whole seconds, comma-separated (5,300,1800)"
    ) from None
if not ORDERS_WEBHOOK_RETRY_SCHEDULE or min(ORDERS_WEBHOOK_RETRY_SCHEDULE) < 0:
    raise ImproperlyConfigured("ORDERS_WEBHOOK_RETRY_SCHEDULE: one wait or more, none negative")
ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_number(
    "ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3.0, kind=float
)
ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS = env_number(
    "ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS", 10.0, kind=float
)
# Requests in flight to one endpoint at most, per sender.
ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY = env_number(
    "ORDERS_WEBHOOK_ENDPOINT_CONCURRENCY", 4, minimum=1, maximum=64
)
# Deliveries a sender claims per round.
ORDERS_WEBHOOK_BATCH_SIZE = env_number("ORDERS_WEBHOOK_BATCH_SIZE", 100, minimum=1)
# Off in production: an endpoint whose host resolves to a loopback, link-local or private
# address is refused, at subscription and before each round of sending to it. On locally (a
# receiver on the same machine).
ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS", IS_LOCAL)
# How long each process keeps the list of active subscriptions: a new subscription hears of the
# changes made this long after it at the latest.
ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = env_number(
    "ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS", 5, minimum=0
)
# At most one wake-up of the sender is pending for this long (orders/wake_up.py).
ORDERS_WEBHOOK_WAKE_UP_GUARD_MS = env_number("ORDERS_WEBHOOK_WAKE_UP_GUARD_MS", 1000, minimum=1)
# The sweep that wakes the sender for retries that fell due, and for lost wake-ups.
ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS = env_number(
    "ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS", 5, minimum=1
)
# Delivered deliveries are deleted this long after, by a sweep every ..._PRUNE_SWEEP_SECONDS.
ORDERS_WEBHOOK_RETENTION_DAYS = env_number("ORDERS_WEBHOOK_RETENTION_DAYS", 7, minimum=1)
ORDERS_WEBHOOK_PRUNE_SWEEP_SECONDS = env_number(
    "ORDERS_WEBHOOK_PRUNE_SWEEP_SECONDS", 3600, minimum=1
)
# POST /order per client (its address: servicekit/client_address.py), as a token bucket in
# Redis (orders/ratelimit.py): "20/s" takes bursts of 20 and 20 a second after; "0" no limit.
# Off locally, where one developer's scripts are the only client; elsewhere it keeps one client
# from taking the web workers' whole capacity (several hundred a second, docs/performance.md).
# Behind a proxy, set ORDERS_TRUSTED_PROXY_HOPS, or every client shares the proxy's bucket.
ORDERS_CREATE_RATE_LIMIT = env_rate("ORDERS_CREATE_RATE_LIMIT", "0" if IS_LOCAL else "20/s")
# The default page of the lists (servicekit/pagination.py).
API_PAGE_SIZE = env_number("ORDERS_PAGE_SIZE", 50, minimum=1)

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged task becomes due again after this long, and is handed out at kombu's next
    # scan for such tasks (about every 100 s by default: unacked_restore_interval x _throttle);
    # it must outlast the longest retry countdown plus the task time limit, or a slow task would
    # run twice. Orders do not wait for it: a claim that expires is charged again by the re-drive.
    "visibility_timeout": env_number("CELERY_VISIBILITY_TIMEOUT_SECONDS", 300, minimum=1),
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    # The worker asks for the queues in CELERY_TASK_QUEUES' order, not in turns: a sweep waits
    # for a free slot, never behind a backlog of payment tasks.
    "queue_order_strategy": "priority",
}
# The sweeps (CELERY_BEAT_SCHEDULE below) have their own queue, served first: delivery stays on
# time whatever the payment load (docs/performance.md). Payment and refund tasks go to Celery's
# default queue.
SWEEPS_QUEUE = "sweeps"
CELERY_TASK_QUEUES = [Queue(SWEEPS_QUEUE), Queue("celery")]
# A payment task spends most of its time waiting for Payments and the database: threads overlap
# those waits in one process (and one interpreter's memory) where prefork needs a process per
# task in flight. The threads pool enforces no task time limits (prefork does): a call to
# Payments is bounded by PAYMENTS_*_TIMEOUT_SECONDS, a database statement only by the server's
# own settings (statement_timeout, lock_timeout), as in the web; a task that outlives
# CELERY_VISIBILITY_TIMEOUT_SECONDS is handed out again and runs twice, which every task allows.
CELERY_WORKER_POOL = env_str("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = env_number("CELERY_WORKER_CONCURRENCY", 8, minimum=1)
# Celery's Django fix-up closes every database connection before and after each task unless
# this is set; it then closes them only every this many tasks. Connections live CONN_MAX_AGE
# as in the web, and a broken one is dropped at the next task (config/celery_signals.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
# Nobody reads task results: no result backend, no result traffic.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = None
# At-least-once: a task is acknowledged after it ran, and requeued if its worker died.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_TASK_TIME_LIMIT = 60
CELERY_BEAT_SCHEDULER = "orders.beat_scheduler:DatabaseSchedulerThatWaits"
# The worker's main process serves its pool's metrics on this port (0: not served; see
# config/celery_signals.py). Not a CELERY_ name: those are Celery's own settings.
WORKER_METRICS_PORT = env_number("CELERY_METRICS_PORT", 0, maximum=65535)


def _sweep(task: str, every_seconds: int) -> dict:
    # A sweep that could not run in time expires instead of piling up behind the next one.
    expire_seconds = max(1, int(every_seconds * 1.5))
    return {"task": task, "schedule": every_seconds, "options": {"expire_seconds": expire_seconds}}


# Beat writes these into django-celery-beat's tables at start (update_or_create by name).
CELERY_BEAT_SCHEDULE = {
    "orders.deliver-due-orders": _sweep("orders.deliver_due_orders", ORDERS_DELIVERY_SWEEP_SECONDS),
    "orders.redrive-stuck-payments": _sweep(
        "orders.redrive_stuck_payments", ORDERS_PAYMENT_REDRIVE_SWEEP_SECONDS
    ),
    "orders.delete-expired-idempotency-keys": _sweep(
        "orders.delete_expired_idempotency_keys", ORDERS_IDEMPOTENCY_KEY_SWEEP_SECONDS
    ),
    "orders.reconcile-payments": _sweep(
        "orders.reconcile_payments", ORDERS_RECONCILIATION_SWEEP_SECONDS
    ),
    "orders.redrive-webhooks": _sweep(
        "orders.redrive_webhooks", ORDERS_WEBHOOK_REDRIVE_SWEEP_SECONDS
    ),
    "orders.prune-webhook-deliveries": _sweep(
        "orders.prune_webhook_deliveries", ORDERS_WEBHOOK_PRUNE_SWEEP_SECONDS
    ),
}
# Every scheduled sweep goes to the sweeps' queue: one list, so a new sweep cannot miss it.
CELERY_TASK_ROUTES = {
    entry["task"]: {"queue": SWEEPS_QUEUE} for entry in CELERY_BEAT_SCHEDULE.values()
}

# One JSON object a line outside local runs, text locally; both with the request id
# (servicekit/settings.py). The worker and beat log the same way (config/celery_signals.py).
LOG_FORMAT = base.log_format(is_local=IS_LOCAL)
# A line per task run, and per beat tick every second, would drown the order events.
LOGGING = base.logging_config(
    service="orders",
    log_format=LOG_FORMAT,
    loggers={
        name: {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")}
        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
    },
)
