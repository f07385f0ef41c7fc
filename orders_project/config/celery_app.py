import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("orders")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids in task headers, task outcome metrics, the worker's logging and tracing.
import config.celery_signals  # noqa: E402, F401
