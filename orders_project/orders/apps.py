from django.apps import AppConfig

# The last tree with both the squashed migration and the ones it replaces
# (docs/operations.md, Upgrading).
SQUASH_RELEASE = "commit 944810d"


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orders import tasks  # noqa: F401
        from orders.metrics import OrdersCollector
        from servicekit.metrics import register_scrape_collector
        from servicekit.squashed_migrations import register_squash_check

        # Every process registers the tasks, the web too: orders/task_handles.py queues them
        # by name through Celery's registry (which, unlike send_task(), honours eager mode).

        # The order gauges of /metrics are read from the database when it is scraped.
        register_scrape_collector(OrdersCollector())

        # 0001-0008 were squashed and then deleted: migrate refuses a database part-way through
        # them (servicekit/squashed_migrations.py).
        register_squash_check(app_label="orders", upgrade_through=SQUASH_RELEASE)
