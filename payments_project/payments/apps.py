from django.apps import AppConfig

# The last tree with both the squashed migration and the ones it replaces
# (docs/operations.md, Upgrading).
SQUASH_RELEASE = "commit 944810d"


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Build the payment methods now: a bad class path or bad options in PAYMENTS_METHODS
        # stop the service (and manage.py) at start, with the method named, not at the first
        # payment.
        from payments.providers import registry
        from servicekit.squashed_migrations import register_squash_check

        registry()

        # 0001-0004 were squashed and then deleted: migrate refuses a database part-way through
        # them (servicekit/squashed_migrations.py).
        register_squash_check(app_label="payments", upgrade_through=SQUASH_RELEASE)
