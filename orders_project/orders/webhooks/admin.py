"""The webhooks in the admin: subscriptions (added, disabled and enabled here; the secret is
shown once, when added, and in no list) and their deliveries, to read and to replay."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from orders.webhooks import event_types, services
from orders.webhooks.models import WebhookDelivery, WebhookSubscription
from servicekit.admin import ViewOnlyAdmin


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=[(name, name) for name in event_types.ALL],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )
    secret = forms.CharField(
        required=False,
        help_text="whsec_ and a base64 key; left empty, one is drawn and shown once.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "description", "event_types", "secret"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if not cleaned.get("secret"):
            cleaned["secret"] = services.signing.secret_generate()
            self.generated_secret = cleaned["secret"]
        try:
            services.subscription_validate(
                url=cleaned["url"], secret=cleaned["secret"], types=cleaned["event_types"]
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        self.instance.secret = cleaned["secret"]
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["id", "url", "description", "types", "active", "disabled_reason", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    actions = ["send_test_message", "disable", "enable"]
    readonly_fields = [
        "url",
        "event_types",
        "active",
        "disabled_reason",
        "disabled_at",
        "created_at",
    ]
    fields = [
        "url",
        "description",
        "event_types",
        "active",
        "disabled_reason",
        "disabled_at",
        "created_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:  # adding: the form above, with the secret
            kwargs["form"] = SubscriptionForm
            kwargs["fields"] = SubscriptionForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else SubscriptionForm.Meta.fields

    def has_delete_permission(self, request, obj=None):
        return False  # disable it: its deliveries stay, to replay

    @admin.display(description="event types")
    def types(self, subscription):
        return ", ".join(subscription.event_types) or "all"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and getattr(form, "generated_secret", None):
            self.message_user(
                request,
                f"Subscription {obj.pk}: its secret is {form.generated_secret} (shown this once).",
                messages.WARNING,
            )

    @admin.action(description="Send a test event to the selected subscriptions")
    def send_test_message(self, request, queryset):
        for subscription in queryset:
            delivery = services.test_message_send(subscription)
            self.message_user(
                request,
                f"Test event {delivery.message_id} queued for subscription {subscription.pk}.",
            )

    @admin.action(description="Disable the selected subscriptions")
    def disable(self, request, queryset):
        reason = f"disabled by {request.user.get_username()} in the admin"
        count = sum(services.subscription_disable(s.pk, reason=reason) for s in queryset)
        self.message_user(request, f"{count} subscriptions disabled.")

    @admin.action(description="Enable the selected subscriptions")
    def enable(self, request, queryset):
        count = sum(services.subscription_enable(s.pk) for s in queryset)
        self.message_user(request, f"{count} subscriptions enabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "message_id",
        "subscription",
        "event_type",
        "order",
        "sequence",
        "status",
        "attempts",
        "last_status_code",
        "answer",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["subscription", "status", "event_type"]
    list_select_related = ["subscription", "order"]
    search_fields = ["message_id", "order__number"]
    search_help_text = "Message id or order number."
    # The subscription's secret is no field of a delivery; its URL is all the list shows of it.
    exclude = ["claimed_by"]
    actions = ["replay"]
    show_full_result_count = False

    @admin.display(description="last answer")
    def answer(self, delivery):
        return delivery.last_response[:80]

    @admin.action(description="Replay the selected deliveries (same ids)")
    def replay(self, request, queryset):
        count = services.deliveries_replay(queryset)
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)
