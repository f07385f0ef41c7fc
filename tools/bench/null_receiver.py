"""The webhook endpoint of `make bench`: nginx answering 204 to every request, keep-alive, in one
process on 127.0.0.1.

The bench measures what a subscription costs the stack, but its receiver runs on the same two
cores. tools/webhook_receiver.py (Python's http.server, which the tests use because it verifies
every signature) spent about 130 µs of CPU a message there: some 2,000 messages a second at the
bench's rates took a quarter of a core from the stack, a cost that a real receiver, on its own
machine, puts on nobody's bill. nginx answers one in a few µs; its CPU is reported beside the
stack's, not in it."""

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cpu import cpu_seconds

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 204; }}
    }}
}}
"""


class NullReceiver:
    def __init__(self, process: subprocess.Popen, url: str):
        self.process, self.url = process, url

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def null_receiving() -> Iterator[NullReceiver]:
    """nginx serving until the block ends (make bench installs it: Debian's nginx-light)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as directory:
        port = free_port()
        config = Path(directory) / "nginx.conf"
        config.write_text(CONFIG.format(dir=directory, port=port))
        process = subprocess.Popen(
            [nginx, "-p", directory, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(port, process)
            yield NullReceiver(process, f"http://127.0.0.1:{port}/hooks")
        finally:
            process.terminate()
            process.wait(10)


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} within {timeout} s")
