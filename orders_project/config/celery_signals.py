"""Logs, metrics and traces of the Celery side of Orders, hung on Celery's signals. Connected
whenever config.celery_app loads: the web publishes tasks, the worker runs them.

- The request id travels in the task's headers: the publisher adds it, the worker restores it
  for the task's run, so its log lines carry the id of the request that queued it. A task
  queued by beat gets its own task id as request id.
- Task outcomes are counted by task name. The worker's pool processes write their samples to
  PROMETHEUS_MULTIPROC_DIR; with CELERY_METRICS_PORT set, the worker's main process serves them
  at :CELERY_METRICS_PORT/metrics (a worker in its own container). Without a port, a worker that
  shares its directory with the Orders web (tools/launcher/run_local.py) is scraped through the web.
- Tracing: each prefork pool process sets itself up after the fork (worker_process_init); the
  threads pool's worker, at its start (worker_init).
"""

import copy
import logging
import logging.config
import os

from celery import signals
from django.conf import settings
from django.db import close_old_connections
from prometheus_client import Counter, multiprocess, start_http_server

from servicekit.connections import close_connections_the_server_closed
from servicekit.request_id import request_id, valid_or_new
from servicekit.tracing import flush_tracing, service_name, setup_tracing

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "request_id"
WORKER_SERVICE, BEAT_SERVICE = "orders-worker", "orders-beat"

TASKS = Counter("celery_tasks_total", "Celery task runs ended, by outcome.", ["task", "outcome"])

_role = {"service": BEAT_SERVICE}  # celeryd_init says when this process is the worker
_tokens: dict = {}


@signals.before_task_publish.connect
def add_request_id(headers=None, **kwargs):
    value = request_id.get()
    if value and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, value)


@signals.task_prerun.connect
def restore_request_id(task_id=None, task=None, **kwargs):
    sent = getattr(task.request, REQUEST_ID_HEADER, None)
    if sent is None and task.request.is_eager:
        return  # run in the caller's process (tests): the caller's id still holds
    _tokens[task_id] = request_id.set(valid_or_new(sent or task_id))


def close_broken_db_connections(task=None, **kwargs):
    """What the web does around each request, around each task: drop this thread's database
    connection if it broke, outlived CONN_MAX_AGE or was ended by the server (say, it restarted;
    servicekit/connections.py). Celery's own fix-up, which would close it every time, is held off
    by CELERY_DB_REUSE_MAX. Connected in the worker only (celeryd_init), like the fix-up's own
    handlers; never for an eager task, which runs in its caller's transaction."""
    if not task.request.is_eager:
        close_old_connections()
        close_connections_the_server_closed()


@signals.task_postrun.connect
def forget_request_id(task_id=None, **kwargs):
    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id.reset(token)


@signals.task_success.connect
def count_success(sender=None, **kwargs):
    TASKS.labels(sender.name, "success").inc()


@signals.task_failure.connect
def count_failure(sender=None, **kwargs):
    TASKS.labels(sender.name, "failure").inc()


@signals.task_retry.connect
def count_retry(sender=None, **kwargs):
    TASKS.labels(sender.name, "retry").inc()


@signals.celeryd_init.connect
def mark_worker(**kwargs):
    _role["service"] = WORKER_SERVICE


@signals.celeryd_init.connect
def keep_db_connections_across_tasks(**kwargs):
    signals.task_prerun.connect(close_broken_db_connections)
    signals.task_postrun.connect(close_broken_db_connections)


@signals.setup_logging.connect
def configure_logging(**kwargs):
    """settings.LOGGING (JSON or text, with request ids) instead of Celery's own format."""
    config = copy.deepcopy(settings.LOGGING)
    config["formatters"]["json"]["service"] = service_name(_role["service"])
    logging.config.dictConfig(config)


@signals.worker_process_init.connect
def start_tracing(**kwargs):
    setup_tracing(default_service=WORKER_SERVICE, django=False, celery=True)


@signals.worker_init.connect
def start_tracing_without_fork(sender=None, **kwargs):
    """The threads pool (the default) runs tasks in the main process: no worker_process_init."""
    if not _forks_a_pool(sender):
        start_tracing()


def _forks_a_pool(worker) -> bool:
    pool = getattr(worker, "pool_cls", None)
    return "prefork" in (pool if isinstance(pool, str) else getattr(pool, "__module__", ""))


@signals.worker_process_shutdown.connect
def forget_process(**kwargs):
    flush_tracing()  # a pool process leaves with os._exit: no atexit flushes its spans
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


@signals.worker_shutdown.connect
def forget_worker(sender=None, **kwargs):
    if not _forks_a_pool(sender):
        forget_process()


@signals.worker_ready.connect
def serve_metrics(**kwargs):
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    from servicekit.metrics import scrape_registry

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning(
            "CELERY_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: pool processes' "
            "samples are not seen"
        )
    start_http_server(port, registry=scrape_registry(collectors=False))
    logger.info("worker metrics on :%d/metrics", port)
