from django.contrib import admin

from payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "order_number",
        "status",
        "method",
        "amount",
        "transaction_id",
        "created_at",
        "refunded_at",
    ]
    list_filter = ["status", "method"]
    search_fields = ["order_number", "name", "transaction_id"]
    show_full_result_count = False

    # View only: payments are made by Orders through the API, never typed in by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
