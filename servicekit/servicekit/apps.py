from django.apps import AppConfig
from django.core.signals import request_started


class ServicekitConfig(AppConfig):
    """The chassis as an app, for the hooks every service needs at start."""

    name = "servicekit"

    def ready(self):
        from servicekit.connections import close_connections_the_server_closed

        # After Django's own receiver (close_old_connections), before the view's first query.
        request_started.connect(close_connections_the_server_closed, dispatch_uid="servicekit")
