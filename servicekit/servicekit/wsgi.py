"""Each service's WSGI application (its config/wsgi.py), as the HTTP server calls it.

A response Django has built whole is handed over as a one-item list: granian writes a list's
bytes in one go from Rust, but walks any other iterable by calling back into Python for each
item, a measurable share of the Orders web's CPU on POST /order (docs/performance.md). Streaming
responses (a static file, say) stay iterables, as the server streams them. A list has no
close(), so the response's own close() (Django's request_finished: the database connections'
end-of-request care) is called here, once its bytes are taken, as a server would call it; what
fails there is logged, as a server logs it, and the answer already built stands.

In front of it all, the admission gate (servicekit/admission.py): a request runs on one of
WEB_THREADS working slots, or is answered a fast 503 when none is free soon enough.
"""

import logging
import os

from django.core.wsgi import get_wsgi_application

from servicekit.admission import AdmissionGate
from servicekit.tracing import setup_tracing

logger = logging.getLogger(__name__)


def service_application(*, service: str, celery: bool = False):
    """Tracing first (before the handler loads the middleware; the server imports config/wsgi.py
    in each worker process, so each gets its own exporter thread), then Django's handler."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    setup_tracing(default_service=service, celery=celery)
    django_application = get_wsgi_application()

    def application(environ, start_response):
        response = django_application(environ, start_response)
        if getattr(response, "streaming", True):
            return response
        try:
            return [response.content]
        finally:
            try:
                response.close()
            except Exception:
                logger.exception("error at the end of the request, after its answer was built")

    # Each request runs on one of the gate's working slots, or is shed with a fast 503.
    return AdmissionGate.from_environment(application)
