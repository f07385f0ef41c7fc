from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Build the payment methods now: a bad class path or bad options in PAYMENTS_METHODS
        # stop the service (and manage.py) at start, with the method named, not at the first
        # payment.
        from payments.providers import registry

        registry()
