"""Who sent a request: the peer's address, or the one a trusted proxy saw.

Behind proxies, the peer (REMOTE_ADDR) is the nearest proxy, and the client's address is in
X-Forwarded-For, where each proxy appends the address it received the request from. Only the
entries the service's own proxies wrote can be believed: a client can send the header with any
addresses it likes, and the proxies append to it. With <NAME>_TRUSTED_PROXY_HOPS proxies in
front (TRUSTED_PROXY_HOPS), the Nth entry from the right is the address the outermost one saw;
anything left of it is the client's to invent. With 0 (the default) the header is never read:
a service reached directly would otherwise let every client choose its own address.

Used by Orders' rate limit of POST /order (orders/ratelimit.py) and the admin's login lockout
(AXES_CLIENT_IP_CALLABLE, servicekit/settings.py).
"""

from django.conf import settings


def client_address(meta) -> str:
    """The client's address from a request's META (REMOTE_ADDR, HTTP_X_FORWARDED_FOR)."""
    peer = meta.get("REMOTE_ADDR") or ""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") if hops else None
    if not forwarded:
        return peer  # reached the service without a proxy, or none is trusted
    addresses = forwarded.split(",")
    # Fewer entries than proxies: each was written by one of them (a header the client sent
    # would add entries, not remove them), and the leftmost is the furthest they saw.
    return addresses[max(0, len(addresses) - hops)].strip() or peer


def axes_client_address(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the address an admin login is counted against."""
    return client_address(request.META)
