from django.contrib import admin, messages

from orders import services
from orders.beat_admin import SettingsScheduledTaskAdmin  # noqa: F401 (registers it)
from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import Order, OrderEvent, OrderStateChange, UnknownOrderPayment
from orders.webhooks import admin as webhooks_admin  # noqa: F401 (registers its models)
from servicekit.admin import ViewOnlyAdmin


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderStateChangeInline(ReadOnlyInline):
    model = OrderStateChange
    verbose_name_plural = "state history"
    fields = ["created_at", "from_state", "to_state", "reason"]
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "events"
    fields = ["created_at", "kind", "detail", "data", "transaction_id", "actor"]
    readonly_fields = fields


# View only: orders are created through the API and change state only through services (the
# cancel action below calls the same service as the API).
@admin.register(Order)
class OrderAdmin(ViewOnlyAdmin):
    list_display = [
        "number",
        "name",
        "price",
        "payment_method",
        "state",
        "state_changed_at",
        "created_at",
    ]
    # Django's date filter: today, the past 7 days, this month, this year; no COUNT per choice.
    list_filter = ["state", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["number", "name", "address"]
    search_help_text = "Order number, name or address (any part of it)."
    inlines = [OrderStateChangeInline, OrderEventInline]
    actions = ["cancel_orders"]
    show_full_result_count = False  # no COUNT(*) over the whole table on each page

    class Media:
        css = {"all": ["orders/admin.css"]}  # the inlines' rows, one line each

    @admin.action(description="Cancel selected orders")
    def cancel_orders(self, request, queryset):
        """Cancel each order through the same service as the API, naming the admin user; a
        message per order says whether it was cancelled or why not, and each cancel is in the
        admin's log (the order's History page)."""
        operator = request.user.get_username()
        for order in queryset.only("id", "number"):
            try:
                services.order_cancel(order_number=order.number, operator=operator)
            except IllegalTransition as exc:
                why = f"it is {exc.from_state} already" if exc.from_state else exc.message
                self.message_user(
                    request, f"Order {order.number} not cancelled: {why}.", messages.WARNING
                )
                continue
            except OrderNotFound:  # gone since the list was shown
                self.message_user(
                    request, f"Order {order.number} not cancelled: not found.", messages.WARNING
                )
                continue
            self.log_change(request, order, f"Cancelled by {operator} (Cancel selected orders).")
            self.message_user(request, f"Order {order.number} cancelled.", messages.SUCCESS)


@admin.register(UnknownOrderPayment)
class UnknownOrderPaymentAdmin(ViewOnlyAdmin):
    """Payments at Payments for order numbers Orders never had, found by reconciliation: for an
    operator to look into at Payments; a record, so nobody edits it here."""

    list_display = ["order_number", "status", "amount", "transaction_id", "found_at"]
    search_fields = ["order_number", "transaction_id"]
