"""The check that keeps webhook requests off the internal network: an endpoint whose host
resolves to a loopback, link-local, private or otherwise non-public address is refused, when
it is subscribed and again before each delivery (a DNS answer may change), unless
ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS (on locally).

Check, then connect: the connection resolves the name again, so a DNS server that answers a
public address to the check and a private one a moment later can still get a request through;
the window is the few milliseconds between the two. A kept-alive connection goes on to the
address checked when it was opened."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = ("http", "https")


def url_refusal(url: str) -> str | None:
    """Why `url` may not be an endpoint (its form), or None."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "the URL must be http or https"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL may not carry a user or password"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "the URL's port is not a number"
    return None


def address_refusal(url: str) -> str | None:
    """Why a request to `url` may not be sent now: its form, or an address its host resolves
    to (every address must be public); None if it may. No resolution at all when
    ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS."""
    if refusal := url_refusal(url):
        return refusal
    if settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS:
        return None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"{parts.hostname} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return f"{parts.hostname} resolves to {address}, not a public address"
    return None
