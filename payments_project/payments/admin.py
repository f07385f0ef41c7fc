from django.contrib import admin
from django.utils.html import format_html

from payments.models import Payment

SHORT_TRANSACTION_ID = 8  # as a short git hash: enough to tell payments apart on one page


# Django's navigation sidebar takes 300 of a 1280 px screen, and the lists need them: with it
# the change list's last column is cut off and names wrap. The breadcrumbs and the home page
# still lead everywhere.
admin.site.enable_nav_sidebar = False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "order_number",
        "status",
        "method",
        "amount",
        "short_transaction_id",
        "created_at",
        "refunded_at",
    ]
    # The status choices (confirmed, declined, refunded) and the payment methods.
    list_filter = ["status", "method"]
    search_fields = ["order_number", "name", "transaction_id"]
    search_help_text = "Order number, name, or transaction id (the whole id or a part of it)."
    show_full_result_count = False

    # A full UUID wraps onto four lines at 1280 px; the list shows its start, the tooltip and
    # the payment's own page the whole id, and the search finds it by any part.
    @admin.display(description="transaction", ordering="transaction_id")
    def short_transaction_id(self, payment: Payment) -> str:
        full = str(payment.transaction_id)
        return format_html(
            '<span title="{}" style="white-space: nowrap">{}…</span>',
            full,
            full[:SHORT_TRANSACTION_ID],
        )

    # View only: payments are made by Orders through the API, never typed in by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
