"""Clients over HTTP: a background stream of new orders at a bounded rate, bursts, and
cancel-versus-payment races."""

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from fault_checks import Answer

REQUEST_TIMEOUT_SECONDS = 5
ORDER_RATE_PER_SECOND = 8
ATTEMPTS = 4  # waits 1, 2, 4 s between them
BATCH_TIME_LIMIT_SECONDS = 60  # a burst or a batch of races starts nothing new after this


def order_body(index: int) -> dict:
    return {"name": f"Fault {index}", "address": f"{index} Chaos Road", "price": f"{index % 90}.25"}


class OrderLoad:
    """POST /order from a background thread at ORDER_RATE_PER_SECOND until stopped, and on
    demand in bursts; remembers every order number answered with 201 and every other answer."""

    def __init__(self, orders_url: str, rate: float = ORDER_RATE_PER_SECOND):
        self.orders_url = orders_url
        self.interval = 1 / rate
        self.created: list[str] = []
        self.refused: Counter = Counter()  # failed attempts, by answer
        self.replayed = 0  # 201s that replayed an order an earlier, failed attempt had stored
        self.answers: list[Answer] = []  # every answer but a 201, and every attempt with none
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-load", daemon=True)
        self._local = threading.local()
        self._count = 0

    def __enter__(self) -> "OrderLoad":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 3)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def create(self, *, idempotency_key: bool = True) -> str | None:
        """POST one order as a careful client does: with an Idempotency-Key, retried with the same
        key after an error or no answer, so that a retry never makes a second order. Without
        the key (Orders' fast path: servicekit/fast_post.py), one attempt only."""
        with self._lock:
            self._count += 1
            index = self._count
        key = str(uuid.uuid4())
        request = "POST /order" + (" with Idempotency-Key" if idempotency_key else "")
        for attempt in range(ATTEMPTS if idempotency_key else 1):
            if attempt:
                time.sleep(0.5 * 2**attempt)
            try:
                response = self._session().post(
                    f"{self.orders_url}/order",
                    json=order_body(index),
                    headers={"Idempotency-Key": key} if idempotency_key else {},
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )
            except requests.RequestException as exc:
                with self._lock:
                    self.refused[type(exc).__name__] += 1
                    self.answers.append(Answer(request, 0))
                continue
            if response.status_code == 201:
                with self._lock:
                    self.created.append(response.json()["orderNumber"])
                    self.replayed += response.headers.get("Idempotent-Replayed") == "true"
                return response.json()["orderNumber"]
            with self._lock:
                self.refused[str(response.status_code)] += 1
                self.answers.append(answer_of(request, response))
            if response.status_code < 500:
                return None
        return None

    def cancel(self, number: str) -> str:
        """PUT /order/cancel/<number> once; the answer's status code, or the error's name."""
        try:
            response = self._session().put(
                f"{self.orders_url}/order/cancel/{number}", timeout=REQUEST_TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            return type(exc).__name__
        return str(response.status_code)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.create()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def burst(self, count: int, *, threads: int = 8) -> list[str]:
        deadline = time.monotonic() + BATCH_TIME_LIMIT_SECONDS

        def one(_) -> str | None:
            return self.create() if time.monotonic() < deadline else None

        with ThreadPoolExecutor(threads) as pool:
            return [n for n in pool.map(one, range(count)) if n]

    def describe_refusals(self) -> str:
        refused = ", ".join(f"{n}x {kind}" for kind, n in sorted(self.refused.items()))
        return f"{refused}; retries answered by a replay: {self.replayed}"


def answer_of(request: str, response: requests.Response) -> Answer:
    return Answer(
        request,
        response.status_code,
        response.headers.get("Content-Type", ""),
        response.headers.get("Retry-After"),
    )


class RouteProbe:
    """Asks every kind of route of both services, round after round from a background thread,
    while something is broken: Orders' POST /order without an Idempotency-Key (its fast path;
    the load's own requests carry the key, DRF's path), a GET of an order and of the list,
    Payments' authenticated GETs, and both services' health. Remembers every answer (`answers`,
    with the time it came); the orders it posts, and their answers, are the load's."""

    def __init__(self, load: OrderLoad, payments_url: str, token: str, pause: float = 0.05):
        self.load, self.pause = load, pause
        orders, payments = load.orders_url, payments_url
        bearer = {"Authorization": f"Bearer {token}"}
        self.gets = [
            ("GET /order/<n>", orders, "/order/{number}", {}),
            ("GET /order/status/<n>", orders, "/order/status/{number}", {}),
            ("GET /order", orders, "/order?pageSize=5", {}),
            ("orders GET /health/live", orders, "/health/live", {}),
            ("orders GET /health/ready", orders, "/health/ready", {}),
            ("GET /payment", payments, "/payment?pageSize=5", bearer),
            ("GET /payment/methods", payments, "/payment/methods", bearer),
            ("payments GET /health/live", payments, "/health/live", {}),
            ("payments GET /health/ready", payments, "/health/ready", {}),
        ]
        self.answers: list[tuple[float, Answer]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="route-probe", daemon=True)
        self._session = requests.Session()

    def __enter__(self) -> "RouteProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 3)

    def _get(self, request: str, url: str, headers: dict) -> Answer:
        try:
            response = self._session.get(url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        except requests.RequestException:
            return Answer(request, 0)
        return answer_of(request, response)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.load.create(idempotency_key=False)
            number = self.load.created[0] if self.load.created else "aaaaaaaa"
            for request, base, path, headers in self.gets:
                answer = self._get(request, base + path.format(number=number), headers)
                self.answers.append((time.monotonic(), answer))
            self._stop.wait(self.pause)

    def statuses(self, request: str, since: float = 0, until: float = float("inf")) -> Counter:
        """The status codes `request` was answered with between `since` and `until`."""
        return Counter(
            a.status for at, a in self.answers if a.request == request and since <= at <= until
        )


def cancel_race(load: OrderLoad, count: int, *, threads: int = 8) -> tuple[Counter, list[str]]:
    """Create `count` orders and cancel each at once (after 0-60 ms, so that sometimes the cancel
    and sometimes the payment task comes first). Returns the answers to the cancels, counted,
    and the order numbers."""

    deadline = time.monotonic() + BATCH_TIME_LIMIT_SECONDS

    def one(_) -> tuple[str, str | None]:
        if time.monotonic() > deadline:
            return "not started: time limit", None
        number = load.create()
        if number is None:
            return "create refused", None
        time.sleep(random.uniform(0, 0.06))
        return f"cancel {load.cancel(number)}", number

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(count)))
    return Counter(answer for answer, _ in results), [n for _, n in results if n]
