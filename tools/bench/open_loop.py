"""An open-loop sender of POST /order that sees every request's outcome: requests are due at a
fixed arrival rate (a schedule of rates), whatever the answers' speed, each on an idle keep-alive
connection or, when none is idle, on a new one, so that a slow server meets more connections as
real clients would bring them, not a pool that quietly waits for it (a closed loop in disguise).

One asyncio loop does it, not a thread per request: at three times the capacity, with answers
that take seconds, thousands of requests are in flight. Each outcome records its due time, its
status (or the error: a connect or read timeout, a refused or reset connection), its latency from
the due time (what a client waits, the sender's own lateness included), Retry-After and the JSON
error code of a non-201, and a 201's order number."""

import asyncio
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loads import ORDER_BODY, percentile

# Long past every target (2 s): an answer slower than this counts as a timeout, and the
# connection is given up.
CLIENT_TIMEOUT_SECONDS = 10.0
# More at once than the machine's file descriptors would allow is the sender's limit, not the
# server's: counted apart ("sender_full"), never sent.
MAX_IN_FLIGHT = 12_000


@dataclass
class Outcome:
    due: float  # seconds since the start of the run
    status: int | None = None  # None: no HTTP answer (see error)
    latency_ms: float = math.nan  # from the due time to the whole answer (or the error)
    error: str = ""  # "connect_timeout", "timeout", "refused", "reset", "closed", "sender_full"
    retry_after: str | None = None
    code: str = ""  # the JSON error shape's code, for a non-2xx
    number: str = ""  # a 201's order number
    new_connection: bool = False
    late_ms: float = 0.0  # how late the sender itself started it (a busy sender's share)


@dataclass
class Phase:
    seconds: float
    rate: float
    name: str = ""


@dataclass
class Run:
    """A run in progress or done: the outcomes so far, in the order they ended."""

    phases: list[Phase]
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() of the first due time
    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


def _request_bytes(host: str, port: int) -> bytes:
    body = ORDER_BODY.encode()
    head = (
        f"POST /order HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


class Sender:
    def __init__(self, base_url: str):
        split = urlsplit(base_url)
        self.host, self.port = split.hostname, split.port
        self.request = _request_bytes(self.host, self.port)
        self.idle: deque = deque()
        self.in_flight = 0

    async def send(self, run: Run, due: float) -> None:
        outcome = Outcome(due=due - run.started, late_ms=(time.monotonic() - due) * 1000)
        self.in_flight += 1
        try:
            await asyncio.wait_for(self._exchange(outcome), CLIENT_TIMEOUT_SECONDS)
        except TimeoutError:
            outcome.error = outcome.error or "timeout"
        finally:
            self.in_flight -= 1
            outcome.latency_ms = (time.monotonic() - due) * 1000
            run.outcomes.append(outcome)

    async def _exchange(self, outcome: Outcome) -> None:
        conn = self.idle.popleft() if self.idle else None
        for attempt in range(2):  # once more, on a new connection, if an idle one was closed
            if conn is None:
                outcome.new_connection = True
                outcome.error = "connect_timeout"  # until the connection is made
                try:
                    conn = await asyncio.open_connection(self.host, self.port)
                except ConnectionRefusedError:
                    outcome.error = "refused"
                    return
                except OSError:
                    outcome.error = "reset"
                    return
                outcome.error = "timeout"  # until the answer is whole
            reader, writer = conn
            try:
                writer.write(self.request)
                status, headers, body = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                writer.close()
                if attempt == 0 and not outcome.new_connection:
                    conn = None
                    continue
                outcome.error = "closed"
                return
            except BaseException:
                writer.close()  # a timeout: the connection's state is unknown
                raise
            outcome.error, outcome.status = "", status
            outcome.retry_after = headers.get("retry-after")
            try:
                data = json.loads(body) if body else {}
            except ValueError:
                data = {}
            if status == 201:
                outcome.number = data.get("orderNumber", "")
            elif isinstance(data, dict):
                outcome.code = str(data.get("code", ""))
            if headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self.idle.append(conn)
            return

    async def run(self, run: Run) -> None:
        tasks = set()
        run.started = time.monotonic() + 0.2
        offset = 0.0
        for phase in run.phases:
            count = int(phase.seconds * phase.rate)
            for i in range(count):
                due = run.started + offset + i / phase.rate
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if self.in_flight >= MAX_IN_FLIGHT:
                    run.outcomes.append(Outcome(due=due - run.started, error="sender_full"))
                    continue
                task = asyncio.create_task(self.send(run, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                run.sent += 1
            offset += phase.seconds
        if tasks:
            await asyncio.wait(tasks)
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def send(base_url: str, phases: list[Phase]) -> Run:
    """Run the schedule to its end (every request answered or given up); the outcomes."""
    run = Run(phases)
    asyncio.run(Sender(base_url).run(run))
    run.done.set()
    return run


def send_in_background(base_url: str, phases: list[Phase]) -> Run:
    """The same in a thread of its own; run.outcomes grows as answers come, run.done is set at
    the end."""

    def target() -> None:
        try:
            asyncio.run(Sender(base_url).run(run))
        finally:
            run.done.set()

    run = Run(phases)
    threading.Thread(target=target, daemon=True, name="open-loop sender").start()
    return run


def summarize(outcomes: list[Outcome], *, answer_within_ms: float = 2000) -> dict:
    """Counts by kind of outcome, and latency percentiles over the answered requests."""
    answered = [o for o in outcomes if o.status is not None]
    created = [o for o in answered if o.status == 201]
    shed = [o for o in answered if o.status == 503]
    by_error: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for o in outcomes:
        if o.status is None:
            by_error[o.error] = by_error.get(o.error, 0) + 1
        else:
            by_status[str(o.status)] = by_status.get(str(o.status), 0) + 1
    latencies = [o.latency_ms for o in answered]
    return {
        "requests": len(outcomes),
        "created": len(created),
        "shed": len(shed),
        "shed_well_formed": sum(1 for o in shed if o.retry_after and o.code),
        "no_answer": len(outcomes) - len(answered),
        "by_status": by_status,
        "by_error": by_error,
        "slow": sum(1 for o in answered if o.latency_ms > answer_within_ms),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else math.nan,
        "created_p99_ms": percentile([o.latency_ms for o in created], 99),
        "shed_p99_ms": percentile([o.latency_ms for o in shed], 99),
        "new_connections": sum(1 for o in outcomes if o.new_connection),
        "late_p99_ms": percentile([o.late_ms for o in outcomes], 99),
    }


def by_second(outcomes: list[Outcome], *, width: float = 1.0) -> list[dict]:
    """The outcomes grouped by due time, `width` seconds a bin: counts and the p99 latency."""
    bins: dict[int, list[Outcome]] = {}
    for o in outcomes:
        bins.setdefault(int(o.due // width), []).append(o)
    rows = []
    for index in sorted(bins):
        group = bins[index]
        answered = [o.latency_ms for o in group if o.status is not None]
        rows.append(
            {
                "t": index * width,
                "requests": len(group),
                "created": sum(1 for o in group if o.status == 201),
                "shed": sum(1 for o in group if o.status == 503),
                "no_answer": sum(1 for o in group if o.status is None),
                "p99_ms": percentile(answered, 99),
            }
        )
    return rows
