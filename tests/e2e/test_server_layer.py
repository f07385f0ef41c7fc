"""What gunicorn answers itself, before either service reads the request: a malformed request is
refused with gunicorn's HTML page (it has no option for a JSON body), with the status the schema
documents for every operation (servicekit/openapi.py SERVER_ANSWERS) and the README lists."""

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

BODY = b'{"name": "Ada", "address": "1 Loop Road", "price": 5}'
MALFORMED = {
    "bad-content-length": (b"POST /order HTTP/1.1\r\nContent-Length: abc\r\n", BODY, 400),
    "doubled-content-length": (
        b"POST /order HTTP/1.1\r\nContent-Length: 54\r\nContent-Length: 3\r\n",
        BODY,
        400,
    ),
    "content-length-and-chunked": (
        b"POST /order HTTP/1.1\r\nContent-Length: 54\r\nTransfer-Encoding: chunked\r\n",
        BODY,
        400,
    ),
    "control-character-in-a-header": (b"GET /order HTTP/1.1\r\nX-Note: a\x01b\r\n", b"", 400),
    "16-kb-header": (b"GET /order HTTP/1.1\r\nX-Big: " + b"a" * 16_384 + b"\r\n", b"", 431),
    "10000-character-url": (b"GET /order?q=" + b"a" * 10_000 + b" HTTP/1.1\r\n", b"", 414),
}


def send(base_url: str, head: bytes, body: bytes) -> tuple[int, bytes]:
    """One raw request (no client library would send these); the status and the headers."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head + b"Host: localhost\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[0].lower()


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("service", ["orders", "payments"])
def test_server_answers_a_malformed_request_as_the_schema_documents(stack, service, case):
    head, body, expected = MALFORMED[case]
    if service == "payments":
        head = head.replace(b" /order", b" /payment", 1)
    base_url = stack.orders_url if service == "orders" else stack.payments_url

    status, headers = send(base_url, head, body)

    assert status == expected
    assert b"content-type: text/html" in headers
    schema = yaml.safe_load((ROOT / "docs" / "openapi" / f"{service}.yaml").read_text())
    responses = schema["paths"][f"/{'order' if service == 'orders' else 'payment'}"]["post"]
    documented = responses["responses"][str(expected)]
    assert "$ref" in documented or "text/html" in documented["content"]
