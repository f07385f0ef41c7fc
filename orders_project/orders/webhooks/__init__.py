"""Webhooks: other systems hear of every change of an order (docs/webhooks.md).

models: subscriptions and the outbox of deliveries; event_types: the types, from the code;
outbox: the rows written in the transaction of each change; payloads: what is sent; signing:
the Standard Webhooks signature; addresses: the check that keeps requests off private networks;
sender: the task that sends what is due; services and selectors: what the admin and the
`webhooks` command do and read."""
