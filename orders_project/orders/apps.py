from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orders import tasks  # noqa: F401
        from orders.metrics import OrdersCollector
        from servicekit.metrics import register_scrape_collector

        # Every process registers the tasks, the web too: orders/dispatch.py queues them by
        # name through Celery's registry (which, unlike send_task(), honours eager mode).

        # The order gauges of /metrics are read from the database when it is scraped.
        register_scrape_collector(OrdersCollector())
