"""The admission gate of each web process: a request that cannot start soon is answered at once,
a 503 with Retry-After in the JSON error shape, instead of waiting where no one sees it.

Without it, granian queues every request it accepts until one of its WEB_THREADS threads is
free, inside its Rust side, without bound and invisible to the application: at three times the
capacity, answers took seconds, then the server stopped accepting connections and clients timed
out (docs/performance.md, Overload). With it, granian runs more threads than there are
working slots, and a request runs on its thread only once it holds a slot:

- WEB_THREADS working slots per process. Each slot owns the database connections its holder
  uses (Slot), so that a process holds as many connections as before, however many threads
  granian runs: Django would otherwise keep one per thread that ever ran a request. The request
  runs on granian's thread itself: handing it to a slot's own thread instead cost a quarter of
  the throughput (two more wake-ups under the GIL a request);
- a request that finds every slot taken waits for one at most WEB_QUEUE_TIMEOUT_MS, behind at
  most WEB_QUEUE_LENGTH others; past either it gets the 503 at once;
- the health probes and /metrics go through a lane of their own (one slot), so that an
  orchestrator's probe is neither shed nor held up by the API's load; its slot closes its
  database connection after each probe (a probe comes every few seconds), so that the process
  holds WEB_THREADS connections between probes, as before.

granian gets a thread for each slot, each place in the waiting line and as many again as there
are slots to answer the sheds, plus the probes' (server_threads()): a shed takes no slot and no
database connection, microseconds.
"""

import functools
import json
import threading
import time
from collections import deque

from django.db import connections

from servicekit.env import env_number

DEFAULT_THREADS = 4  # WEB_THREADS: the working slots (servicekit/webserver.py)
DEFAULT_QUEUE_TIMEOUT_MS = 1000
# The waiting line holds what arrives while the process does not run for a moment (a host's
# pause, a checkpoint's flush): 32 held a tenth of a second of this machine's load at half its
# capacity, and a 400 ms pause every 6 s at 500 requests a second shed 1,223 of 30,000; 128 shed
# none. Longer is worse under overload: every place is a thread of granian's (made when first
# needed, retired after 10 minutes idle), and at three times the capacity 256 of them a process
# fought over the GIL until answers took 6.5 s and connections timed out, where 128 answered all
# within 2 s (docs/performance.md, Overload).
DEFAULT_QUEUE_LENGTH = 128
PROBE_PREFIXES = ("/health/", "/metrics")
# Liveness runs outside the gate: it answers from the process alone (no database), and held
# behind a readiness probe that waits on a database that does not answer (a connect timeout of
# 5 s), it would be shed, and its orchestrator would restart healthy processes during a database
# outage.
LIVENESS_PREFIX = "/health/live"
PROBE_SLOTS = 1
PROBE_QUEUE_LENGTH = 4
# What a client is told to wait: the waiting line drains in a fraction of it.
RETRY_AFTER_SECONDS = 1
OVERLOADED_MESSAGE = "The service is busy; retry after the time Retry-After gives."


def working_slots() -> int:
    return env_number("WEB_THREADS", DEFAULT_THREADS, minimum=1)


def queue_length() -> int:
    return env_number("WEB_QUEUE_LENGTH", DEFAULT_QUEUE_LENGTH, minimum=0)


def queue_timeout_seconds() -> float:
    return env_number("WEB_QUEUE_TIMEOUT_MS", DEFAULT_QUEUE_TIMEOUT_MS, minimum=1) / 1000


def server_threads() -> int:
    """granian's threads per process: every slot's caller, the waiting line, as many again to
    answer the sheds, and the probes' lane."""
    slots = working_slots()
    return 2 * slots + queue_length() + PROBE_SLOTS + PROBE_QUEUE_LENGTH


class Slot:
    """One working slot: the database connections its holder uses, whichever of the server's
    threads holds it. Django keeps a connection per thread; the slot's are put in the holder's
    place for the length of the request (ConnectionHandler's item assignment), so that a process
    holds a connection per slot however many threads the server runs. One thread at a time uses
    them (the slot's holder), which is what inc_thread_sharing() declares."""

    def __init__(self, *, close_after_each: bool = False):
        self.close_after_each = close_after_each
        self.databases: dict = {}  # alias -> DatabaseWrapper, made at the slot's first use

    def enter(self) -> None:
        for alias in connections:
            wrapper = self.databases.get(alias)
            if wrapper is None:
                wrapper = self.databases[alias] = connections.create_connection(alias)
                wrapper.inc_thread_sharing()
            connections[alias] = wrapper

    def leave(self) -> None:
        for alias, wrapper in self.databases.items():
            try:
                if self.close_after_each:
                    wrapper.close()
            finally:
                # Whatever this thread does next outside a slot has no connection of the slot's.
                del connections[alias]


class Lane:
    """`slots` working slots; a caller waits for a free one at most `timeout` seconds, behind at
    most `queue_length` others. Waiters are served in the order they came (a freed slot is
    handed to the oldest one), so that a wait is bounded by the line ahead, not by luck."""

    def __init__(
        self, name: str, *, slots: int, queue_length: int, timeout: float, probes: bool = False
    ):
        self.name, self.queue_length, self.timeout = name, queue_length, timeout
        # Last in, first out: under a light load the same few slots (and connections) serve.
        self._free = [Slot(close_after_each=probes) for _ in range(slots)]
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> tuple[Slot | None, float]:
        """A slot, or None if none came within the deadline or the line was full; and the
        seconds waited."""
        with self._lock:
            if self._free:
                return self._free.pop(), 0.0
            if len(self._waiters) >= self.queue_length:
                return None, 0.0
            waiter = _Waiter()
            self._waiters.append(waiter)
        started = time.perf_counter()
        waiter.handed.acquire(timeout=self.timeout)
        with self._lock:
            if waiter.slot is None:  # the deadline passed first
                self._waiters.remove(waiter)
        return waiter.slot, time.perf_counter() - started

    def release(self, slot: Slot) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.slot = slot
                waiter.handed.release()
            else:
                self._free.append(slot)

    def run(self, work, *args):
        """(`work(*args)`'s result, the seconds it waited for a slot), run in this thread with a
        slot's connections; (None, seconds waited), without running it, if no slot was free
        within the deadline or the waiting line was full. Its exception, if it raises."""
        slot, waited = self.acquire()
        if slot is None:
            return None, waited
        slot.enter()
        try:
            return work(*args), waited
        finally:
            try:
                slot.leave()
            finally:
                self.release(slot)  # even if closing a connection failed: a lost slot stays lost


class _Waiter:
    def __init__(self):
        self.slot: Slot | None = None
        self.handed = threading.Lock()
        self.handed.acquire()  # released by the one who hands it a slot


@functools.cache
def _overloaded_body() -> bytes:
    # Imported here: the web server's main process reads this module's settings before Django
    # is set up, and the errors module needs it.
    from servicekit.errors import error_body

    return json.dumps(error_body("overloaded", OVERLOADED_MESSAGE)).encode()


def overloaded(start_response) -> list[bytes]:
    """The shed: a 503 in the JSON error shape, with Retry-After, built without Django."""
    body = _overloaded_body()
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(RETRY_AFTER_SECONDS)),
        ],
    )
    return [body]


class AdmissionGate:
    """The WSGI application in front of Django's: each request runs on a lane's slot, or is
    shed."""

    def __init__(self, application, *, slots: int, queue_length: int, timeout: float):
        self.application = application
        self.api = Lane("api", slots=slots, queue_length=queue_length, timeout=timeout)
        self.probes = Lane(
            "probes",
            slots=PROBE_SLOTS,
            queue_length=PROBE_QUEUE_LENGTH,
            timeout=timeout,
            probes=True,
        )

    @classmethod
    def from_environment(cls, application) -> "AdmissionGate":
        return cls(
            application,
            slots=working_slots(),
            queue_length=queue_length(),
            timeout=queue_timeout_seconds(),
        )

    def __call__(self, environ, start_response):
        from servicekit.metrics import QUEUE_WAIT, SHED

        path = environ.get("PATH_INFO", "")
        if path.startswith(LIVENESS_PREFIX):
            return self.application(environ, start_response)
        lane = self.probes if path.startswith(PROBE_PREFIXES) else self.api
        body, waited = lane.run(self.application, environ, start_response)
        if waited:
            QUEUE_WAIT.labels(lane.name).observe(waited)
        if body is None:
            SHED.labels(lane.name).inc()
            return overloaded(start_response)
        return body
