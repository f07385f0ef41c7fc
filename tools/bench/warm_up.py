"""Before a soak's first window: every web worker of both services has served the requests it
serves during the run.

The soak judges memory by each process's first window against its last. A web worker's first
requests grow it by a third (Django's lazy imports and caches, the database connection, the
allocator's arenas of its threads): about 60 to 94 MiB here. The Orders worker reaches Payments
over a few kept-alive connections (its charger sends batches), and each of those belongs to
whichever Payments worker accepted it: one Payments worker may serve nothing for many minutes,
and its first requests then count as growth. In a 30-minute soak of 2026-12-08 one served
nothing until minute 11, then grew to its sibling's size, x1.13 of its first window.

So the services' own requests are sent, each over a connection of its own (so that the kernel
hands it to any worker), until every web worker has spent SERVED_CPU_SECONDS serving them:

- Orders: POST /order, the sender's request. Those orders are decided like the run's, and the
  end of the soak checks them too.
- Payments: reconciliation's read (a page of 500 changed payments) and the charger's batch,
  replaying payments that exist: Payments answers a replay with the stored payment, so nothing
  changes.

Then one burst at each service, as many requests at once as its processes have threads, so that
granian's threads of the waiting line exist before the first window too (WarmUp.burst)."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from cpu import cpu_seconds
from loads import ORDER_BODY

from servicekit.admission import server_threads

# CPU time each worker spends serving before the run: an idle worker spends none, a page of 500
# payments or a batch of 100 costs 20 to 60 ms. A few requests leave a worker short of the
# memory it holds once it serves: a worker that had spent 120 ms stood at 82 MiB beside its
# sibling's 91; half a second of them brings it up to what serving holds.
SERVED_CPU_SECONDS = 0.5
LIMIT_SECONDS = 120
# Per service with a worker still to reach, all at once: no more than a worker's slots
# (WEB_THREADS, 4), so that the admission gate never sheds one.
REQUESTS_A_ROUND = 4
BATCH = 100  # the charger's batch (ORDERS_PAYMENT_BATCH_SIZE's default)
PAGE = 500  # reconciliation's page (orders/clients.py, CHANGED_PAGE_SIZE)
TIMEOUT_SECONDS = 30


def _call(method: str, url: str, body: dict | str | None = None, token: str | None = None):
    """One request over a connection of its own (urllib closes it after the answer); the JSON
    answer. An error answer raises: the warm-up must not hide a stack that does not work."""
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=data.encode() if data else None, method=method, headers=headers
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return json.loads(response.read() or b"null")


class WarmUp:
    """`workers`: pid -> "orders web worker" or "payments web worker"."""

    def __init__(
        self, workers: dict[int, str], orders_url: str, payments_url: str, payments_token: str
    ):
        self.workers = workers
        self.orders_url, self.payments_url = orders_url, payments_url
        self.token = payments_token
        self.numbers: list[str] = []  # the orders it created, checked at the end of the soak
        self._start = {pid: cpu_seconds(pid) for pid in workers}

    def served(self, pid: int) -> float:
        return cpu_seconds(pid) - self._start[pid]

    def cold(self) -> list[int]:
        return [pid for pid in self.workers if self.served(pid) < SERVED_CPU_SECONDS]

    def order(self) -> None:
        self.numbers.append(_call("POST", f"{self.orders_url}/order", ORDER_BODY)["orderNumber"])

    def payments(self) -> None:
        page = _call("GET", f"{self.payments_url}/payment/?pageSize={PAGE}", token=self.token)[
            "results"
        ]
        fields = ("orderNumber", "name", "address", "price", "paymentMethod")
        replay = [{field: item[field] for field in fields} for item in page[:BATCH]]
        if replay:
            results = _call(
                "POST", f"{self.payments_url}/payment/batch", {"payments": replay}, self.token
            )["results"]
            if not all(result.get("replayed") for result in results):
                raise RuntimeError(f"a replayed batch was not answered as replays: {results[:3]}")

    def burst(self, call: Callable[[], None], service: str) -> int:
        """As many calls at once as the service's processes have threads (server_threads()):
        granian makes a thread of the waiting line when one is first needed, and a pause of the
        host that fills the line in the middle of a run would otherwise add their memory then.
        The 503s of the gate, sheds of a full line, are counted, not raised."""
        processes = sum(1 for name in self.workers.values() if name.startswith(service))
        calls = server_threads() * processes
        start = threading.Barrier(calls)

        def one() -> int:
            """1 if the call was shed, else 0."""
            start.wait(timeout=TIMEOUT_SECONDS)
            try:
                call()
            except urllib.error.HTTPError as exc:
                if exc.code != 503:
                    raise
                return 1
            return 0

        with ThreadPoolExecutor(calls) as pool:
            return sum(future.result() for future in [pool.submit(one) for _ in range(calls)])

    def page(self) -> None:
        _call("GET", f"{self.payments_url}/payment/?pageSize=50", token=self.token)

    def run(self, log: Callable[[str], None]) -> bool:
        """Rounds until every worker has served, then a burst at each service; False if a
        worker is still cold after LIMIT_SECONDS."""
        started = time.monotonic()
        with ThreadPoolExecutor(2 * REQUESTS_A_ROUND + 1) as pool:
            while (cold := self.cold()) and time.monotonic() - started < LIMIT_SECONDS:
                calls = []
                if any(self.workers[pid].startswith("orders") for pid in cold):
                    calls += [self.order] * REQUESTS_A_ROUND * 8  # a POST costs a few ms
                if any(self.workers[pid].startswith("payments") for pid in cold):
                    # Payments' first page is empty until an order has been charged.
                    calls += [self.order] + [self.payments] * REQUESTS_A_ROUND
                for future in [pool.submit(call) for call in calls]:
                    future.result()
        shed = self.burst(self.order, "orders") + self.burst(self.page, "payments")
        log(f"warm-up bursts: {shed} requests shed, as a full waiting line does")
        served = ", ".join(
            f"{self.workers[pid]} {pid} {self.served(pid) * 1000:.0f} ms" for pid in self.workers
        )
        cold = self.cold()
        log(
            f"warm-up in {time.monotonic() - started:.1f} s, CPU each web worker spent serving: "
            f"{served}" + (f"; NOT reached: {cold}" if cold else "")
        )
        return not cold
