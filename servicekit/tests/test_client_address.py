"""servicekit/client_address.py: whose address a request is counted against. Orders' rate limit
tests (tests/orders/test_ratelimit.py) show the same through POST /order."""

import pytest

from servicekit.client_address import client_address

PEER = "10.0.0.5"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, None, PEER),
        (0, "203.0.113.1", PEER),  # no trusted proxy: the header is anyone's to write
        (1, None, PEER),  # a trusted proxy that sent no header: the peer is the client
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "1.1.1.1, 203.0.113.1", "203.0.113.1"),  # the client's own entries are ignored
        (2, "1.1.1.1, 203.0.113.1, 10.0.1.9", "203.0.113.1"),
        (2, "203.0.113.1", "203.0.113.1"),  # fewer entries than proxies: the furthest one
        (1, "1.1.1.1, ", PEER),  # an empty entry: nothing to believe
    ],
)
def test_client_address_believes_only_the_trusted_proxies(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    meta = {"REMOTE_ADDR": PEER}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded

    assert client_address(meta) == expected
