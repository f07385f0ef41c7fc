"""A real webhook endpoint for the harness: a small threaded HTTP server on 127.0.0.1 that
verifies every message with the standardwebhooks package (given the secret), keeps what it
received, and answers what the test says (204 unless told). The end-to-end suite, the fault
suite and `make bench` use it."""

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    def __init__(self, answer: Callable[[dict | None], int] = lambda message: 204):
        # The status to answer a message (None: the bench's, unread), or (status, body bytes).
        self.answer = answer
        self.verifier: Webhook | None = None
        self.messages: list[dict] = []  # every verified message, in arrival order (duplicates too)
        self.unverified = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the sender expects

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.take(body, dict(self.headers))
                status, text = answer if isinstance(answer, tuple) else (answer, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def verify_with(self, secret: str | None) -> None:
        """Verify every message with `secret` from now on; None: take them unread (the bench)."""
        self.verifier = Webhook(secret) if secret else None

    def take(self, body: bytes, headers: dict) -> int:
        if self.verifier is None:
            return self.answer(None)
        try:
            message = self.verifier.verify(body, headers)
        except Exception:
            with self.lock:
                self.unverified += 1
            return 400
        assert headers.get("webhook-id") == message["id"]
        with self.lock:
            self.messages.append(message)
        return self.answer(message)

    def of_order(self, number: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if m["data"].get("orderNumber") == number]

    def ids(self) -> list[str]:
        with self.lock:
            return [m["id"] for m in self.messages]


@contextlib.contextmanager
def receiving(answer: Callable[[dict | None], int] = lambda message: 204) -> Iterator[Receiver]:
    """A Receiver serving until the block ends."""
    receiver = Receiver(answer)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def parse_added(output: str) -> tuple[int, str]:
    """The subscription id and secret `manage.py webhooks add` printed."""
    lines = dict(line.split(" ", 1) for line in output.splitlines() if " " in line)
    return int(lines["subscription"]), lines["secret"].split(" ", 1)[0]
