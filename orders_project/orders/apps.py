from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from config.metrics import register_scrape_collector
        from orders.metrics import OrdersCollector

        # The order gauges of /metrics are read from the database when it is scraped.
        register_scrape_collector(OrdersCollector())
