"""manage.py webhooks add|list|disable|enable|replay: the webhook subscriptions from the command
line (docs/webhooks.md, Operations)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from orders.webhooks import event_types, services
from orders.webhooks.models import WebhookSubscription


def _rfc3339(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--since {value!r}: not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise CommandError(f"--since {value!r}: give the offset (Z, +02:00)")
    return moment


def _subscription(subscription_id: int) -> WebhookSubscription:
    try:
        return WebhookSubscription.objects.get(pk=subscription_id)
    except WebhookSubscription.DoesNotExist:
        raise CommandError(f"no subscription {subscription_id}") from None


class Command(BaseCommand):
    help = "Manage webhook subscriptions: add, list, disable, enable, replay."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="subscribe an endpoint")
        add.add_argument("url")
        add.add_argument(
            "--events",
            default="",
            help=f"comma-separated event types (default: all): {','.join(event_types.ALL)}",
        )
        add.add_argument("--secret", default="", help="whsec_… (default: one is drawn)")
        add.add_argument("--description", default="")
        actions.add_parser("list", help="the subscriptions (never their secrets)")
        for name, what in (("disable", "stop sending to it"), ("enable", "send to it again")):
            action = actions.add_parser(name, help=what)
            action.add_argument("id", type=int)
        replay = actions.add_parser("replay", help="send its deliveries again, with their ids")
        replay.add_argument("id", type=int)
        replay.add_argument("--failed", action="store_true", help="only those given up")
        replay.add_argument("--since", type=_rfc3339, help="only changes since (RFC 3339)")

    def handle(self, *args, action, **options):
        getattr(self, action)(**options)

    def add(self, *, url, events, secret, description, **_):
        types = [name.strip() for name in events.split(",") if name.strip()]
        try:
            subscription, used = services.subscription_add(
                url=url, types=types, secret=secret, description=description
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"subscription {subscription.pk}")
        if not secret:
            self.stdout.write(f"secret {used} (shown this once)")

    def list(self, **_):
        for subscription in WebhookSubscription.objects.order_by("id"):
            state = "active" if subscription.active else f"disabled: {subscription.disabled_reason}"
            types = ",".join(subscription.event_types) or "all"
            self.stdout.write(f"{subscription.pk}\t{subscription.url}\t{types}\t{state}")

    def disable(self, *, id, **_):
        _subscription(id)
        services.subscription_disable(id, reason="disabled from the command line")
        self.stdout.write(f"subscription {id} disabled")

    def enable(self, *, id, **_):
        _subscription(id)
        services.subscription_enable(id)
        self.stdout.write(f"subscription {id} enabled")

    def replay(self, *, id, failed, since, **_):
        subscription = _subscription(id)
        count = services.subscription_replay(id, failed_only=failed, since=since)
        self.stdout.write(f"{count} deliveries queued again")
        if not subscription.active:
            self.stdout.write(f"subscription {id} is disabled: they go once it is enabled")
