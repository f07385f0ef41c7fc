import os

from django.core.wsgi import get_wsgi_application

from servicekit.tracing import setup_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before the handler loads the middleware; gunicorn imports this module in each worker, after
# the fork, so each process gets its own exporter thread.
setup_tracing(default_service="payments")
application = get_wsgi_application()
