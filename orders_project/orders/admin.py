from django.contrib import admin, messages

from orders import services
from orders.exceptions import IllegalTransition
from orders.models import Order, OrderEvent, OrderStateChange


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
    fields = ["created_at", "kind", "detail", "transaction_id", "actor"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "price", "state", "state_changed_at", "created_at"]
    list_display.insert(3, "payment_method")  # also shown on the detail page, as every field
    list_filter = ["state"]
    search_fields = ["number", "name"]
    inlines = [OrderStateChangeInline, OrderEventInline]
    actions = ["cancel_orders"]
    show_full_result_count = False  # no COUNT(*) over the whole table on each page

    # View only: orders are created through the API and change state only through services
    # (the cancel action below calls the same service as the API).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected orders")
    def cancel_orders(self, request, queryset):
        for number in queryset.values_list("number", flat=True):
            try:
                services.order_cancel(order_number=number)
            except IllegalTransition as exc:
                self.message_user(request, exc.message, level=messages.WARNING)
