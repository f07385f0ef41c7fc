#!/usr/bin/env python3
"""The image's HEALTHCHECK, one for every role.

A web role's entrypoint writes the URL it is checked at into /tmp/healthcheck-url: that URL
must answer 200 within the timeout. The other roles (worker, beat, migrate) have no port: their
container lives exactly as long as their process does, so it is healthy while it runs.
Compose and Kubernetes set their own per-role checks on top of this one.
"""

import sys
import urllib.error
import urllib.request
from pathlib import Path

URL_FILE = Path("/tmp/healthcheck-url")  # noqa: S108 (written by docker/entrypoint.sh)
TIMEOUT_SECONDS = 4


def main() -> int:
    try:
        url = URL_FILE.read_text().strip()
    except FileNotFoundError:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
