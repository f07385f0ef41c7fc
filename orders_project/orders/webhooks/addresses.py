"""The check that keeps webhook requests off the internal network: an endpoint whose host
resolves to a loopback, link-local, private or otherwise non-public address is refused, when
it is subscribed and again before each round of sending to it (a DNS answer may change; the
sender checks once per claim and endpoint, as a check outside local runs resolves the name),
unless ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS (on locally).

The sender connects to the address checked, not to the name (orders/webhooks/sender.py pins
it), so a DNS answer that changes between the check and the connection cannot send a request
to a private address."""

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
    """Why a request to `url` may not be sent now (see checked_address()); None if it may."""
    return checked_address(url)[0]


def checked_address(url: str) -> tuple[str | None, str | None]:
    """(why a request to `url` may not be sent now, None) or (None, the address to connect
    to): its form is checked, and every address its host resolves to must be public; the
    first is the one to connect to. (None, None) when ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS: no
    resolution here, the connection resolves the name itself."""
    if refusal := url_refusal(url):
        return refusal, None
    if settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS:
        return None, None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"{parts.hostname} does not resolve ({exc})", None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            return f"{parts.hostname} resolves to {address}, not a public address", None
    return None, str(addresses[0])
