from django.contrib import admin
from django.utils.html import format_html

from payments.models import Payment
from servicekit.admin import ViewOnlyAdmin

SHORT_TRANSACTION_ID = 8  # as a short git hash: enough to tell payments apart on one page


# View only: payments are made by Orders through the API, never typed in by hand.
@admin.register(Payment)
class PaymentAdmin(ViewOnlyAdmin):
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
