#!/usr/bin/env python3
"""The health check of every role: the image's HEALTHCHECK and docker-compose.yml's.

The entrypoint writes the URL a role is checked at into /tmp/healthcheck-url: a web role's
/health/ready, the worker's metrics port (served once it consumes). That URL must answer 200
within the timeout. A role without one (beat, migrate, a worker without CELERY_METRICS_PORT)
has no port: its container lives exactly as long as its process does, so it is healthy while
it runs.

Compose runs it every few seconds, so it is kept cheap: one plain HTTP/1.0 request on a socket,
as urllib's imports cost more than the request itself. The whole answer is read, so that the
server never writes to a closed connection. Invoked with no argument holding a space, which
podman's Docker API would split.
"""

import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

URL_FILE = Path("/tmp/healthcheck-url")  # noqa: S108 (written by docker/entrypoint.sh)
TIMEOUT_SECONDS = 4


def status_of(url: str) -> int:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT_SECONDS) as conn:
        conn.sendall(f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        answer = b"".join(iter(lambda: conn.recv(65536), b""))
    return int(answer.split(b" ", 2)[1])


def main() -> int:
    try:
        url = URL_FILE.read_text().strip()
    except FileNotFoundError:
        return 0
    try:
        status = status_of(url)
    except (OSError, ValueError, IndexError) as exc:
        print(f"{url}: {exc!r}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
