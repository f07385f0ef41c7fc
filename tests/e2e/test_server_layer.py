"""What the HTTP server (granian) answers itself, before either service reads the request: a
malformed request, more than 100 headers, or a head over 48 KiB is refused with an empty body
(granian has no option for a JSON one), with the status the schema documents for every
operation (servicekit/openapi.py SERVER_ANSWERS). Requests the server lets through reach the
service, which answers in its JSON shape."""

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

BODY = b'{"name": "Ada", "address": "1 Loop Road", "price": 5}'
MANY_HEADERS = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
REFUSED = {
    "bad-content-length": (b"POST /order HTTP/1.1\r\nContent-Length: abc\r\n", BODY, 400),
    "doubled-content-length": (
        b"POST /order HTTP/1.1\r\nContent-Length: 54\r\nContent-Length: 3\r\n",
        BODY,
        400,
    ),
    "control-character-in-a-header": (b"GET /order HTTP/1.1\r\nX-Note: a\x01b\r\n", b"", 400),
    "101-headers": (b"GET /order HTTP/1.1\r\n" + MANY_HEADERS, b"", 431),
    "70-kb-header": (b"GET /order HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n", b"", 431),
    "70000-character-url": (b"GET /order?q=" + b"a" * 70_000 + b" HTTP/1.1\r\n", b"", 431),
}
# Let through by the server: the service answers, in JSON.
PASSED_ON = {
    "16-kb-header": (b"GET /order HTTP/1.1\r\nX-Big: " + b"a" * 16_384 + b"\r\n", b"", 200),
    "10000-character-url": (b"GET /order?q=" + b"a" * 10_000 + b" HTTP/1.1\r\n", b"", 200),
    # A chunked body wins over Content-Length: not JSON here, so the parser refuses it.
    "content-length-and-chunked": (
        b"POST /order HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 54\r\n"
        b"Transfer-Encoding: chunked\r\n",
        BODY,
        400,
    ),
}


def send(base_url: str, head: bytes, body: bytes) -> tuple[int, bytes, bytes]:
    """One raw request (no client library would send these); the status, headers and body."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head + b"Host: localhost\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, content = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), headers.lower(), content


def for_service(service: str, stack, head: bytes) -> tuple[str, bytes]:
    if service == "payments":
        head = head.replace(b" /order", b" /payment", 1)
    return (stack.orders_url if service == "orders" else stack.payments_url), head


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("service", ["orders", "payments"])
def test_server_refuses_a_malformed_request_as_the_schema_documents(stack, service, case):
    head, body, expected = REFUSED[case]
    base_url, head = for_service(service, stack, head)

    status, headers, content = send(base_url, head, body)

    assert status == expected
    assert b"content-type" not in headers and content == b""
    schema = yaml.safe_load((ROOT / "docs" / "openapi" / f"{service}.yaml").read_text())
    responses = schema["paths"][f"/{'order' if service == 'orders' else 'payment'}"]["post"]
    documented = responses["responses"][str(expected)]
    assert "$ref" in documented or "empty body" in documented["description"]


@pytest.mark.parametrize("case", sorted(PASSED_ON))
def test_server_passes_on_what_it_can_read_and_the_service_answers_in_json(stack, case):
    head, body, expected = PASSED_ON[case]

    status, headers, content = send(stack.orders_url, head, body)

    assert status == expected, content[:300]
    assert b"content-type: application/json" in headers
