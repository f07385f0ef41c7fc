"""What `make bench` reads and writes directly, beside the API: seed rows, samples of order
numbers, the broker's queue, the timestamps of the end-to-end and pipeline orders, and the
retiring of orders a measured run left `created`."""

import time
from pathlib import Path

import psycopg
import redis
from psycopg import sql

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Seeded order k gets the base-36 digits of (k * STRIDE) mod 36^8: a bijection (STRIDE is
# prime, so coprime with 36^8), hence unique numbers, spread over the whole key space the way
# the API's random numbers are (an index filled in order would be unrealistically dense).
STRIDE = 1_000_000_007
KEY_SPACE = 36**8

SEED_SQL = """
INSERT INTO {table}
    (number, name, address, price, state,
     state_changed_at, payment_requested_at, created_at, updated_at)
SELECT
    substr(%(a)s, (k %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 36 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 1296 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 46656 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 1679616 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 60466176 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 2176782336 %% 36)::int + 1, 1)
    || substr(%(a)s, (k / 78364164096 %% 36)::int + 1, 1),
    'Seeded Customer', '2 Seed Lane, Springfield', (i %% 10000) / 100.0,
    CASE WHEN i %% 5 = 0 THEN 'cancelled' ELSE 'delivered' END,
    now() - interval '30 days', now() - interval '30 days',
    now() - interval '30 days', now() - interval '30 days'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i,
     LATERAL (SELECT (i * %(stride)s::bigint) %% %(space)s::bigint AS k) AS key
ON CONFLICT (number) DO NOTHING
"""

E2E_SQL = """
SELECT o.number, o.state, o.created_at, pay.to_state, pay.created_at, dlv.created_at
FROM orders_order o
LEFT JOIN orders_orderstatechange pay
    ON pay.order_id = o.id AND pay.from_state = 'created'
    AND pay.to_state IN ('confirmed', 'cancelled')
LEFT JOIN orders_orderstatechange dlv
    ON dlv.order_id = o.id AND dlv.to_state = 'delivered'
WHERE o.number = ANY(%s)
"""

# A run's orders are those with an id above the highest one before it: only the run creates
# orders meanwhile. A decision is the history row that leaves `created` (a row with equal states
# is a note, not a transition); deliveries come later and do not count.
RUN_SQL = """
SELECT count(*), count(*) FILTER (WHERE o.state = 'created'), min(o.created_at),
       max(o.created_at),
       (SELECT max(h.created_at) FROM orders_orderstatechange h
        WHERE h.order_id > %(after)s AND h.from_state = 'created' AND h.to_state <> 'created')
FROM orders_order o
WHERE o.id > %(after)s
"""

# Every order still `created` is cancelled, with its history row, so that no payment path picks
# it up later: the per-order tasks whose messages purge() dropped, the orders pgbench inserted,
# a batched charger's waiting orders (it charges whatever is `created`). Run between measured
# runs only, so that no run pays for an earlier run's leftovers, whichever the design.
RETIRE_SQL = """
WITH retired AS (
    UPDATE orders_order SET state = 'cancelled', state_changed_at = now(), updated_at = now()
    WHERE state = 'created'
    RETURNING id
)
INSERT INTO orders_orderstatechange (order_id, from_state, to_state, reason, created_at)
SELECT id, 'created', 'cancelled', 'bench: retired, left over by a measured run', now()
FROM retired
"""


def wait_until(done, timeout: float, *, interval: float) -> bool:
    """Poll `done()` every `interval` seconds until it is true; False once `timeout` passed."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class Database:
    """The Orders database. For the growth measure it holds a second orders table, `bench_big`
    (a LIKE copy: same columns, indexes and constraints), swapped in for orders_order by
    renaming, so that runs on 10 thousand and on 1 million orders can alternate."""

    BIG = "bench_big"

    def __init__(self, url: str):
        self.url = url
        self.big_is_live = False

    def _connect(self):
        return psycopg.connect(self.url, autocommit=True)

    def count(self, table: str = "orders_order") -> int:
        with self._connect() as conn:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            return conn.execute(query).fetchone()[0]

    def seed(self, table: str, total: int) -> tuple[int, float]:
        """Fill `table` up to `total` rows with delivered and cancelled orders (the sweeps
        leave them alone), then VACUUM ANALYZE it as autovacuum would, and CHECKPOINT. Returns
        the rows added and the seconds it took."""
        started = time.monotonic()
        added, first = 0, 1
        with self._connect() as conn:
            if table == self.BIG:
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (LIKE orders_order INCLUDING ALL)"
                    ).format(sql.Identifier(table))
                )
            query = sql.SQL(SEED_SQL).format(table=sql.Identifier(table))
            while (missing := total - self.count(table)) > 0:
                params = {
                    "a": ALPHABET,
                    "first": first,
                    "last": first + missing - 1,
                    "stride": STRIDE,
                    "space": KEY_SPACE,
                }
                added += conn.execute(query, params).rowcount
                first += missing
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
            # Write the seeded pages out now, not during the first measured runs.
            conn.execute("CHECKPOINT")
        return added, time.monotonic() - started

    def use_big(self, big: bool) -> None:
        """Make the big table (or the real one) orders_order, by renaming both in one
        transaction. Django sends plain SQL that names the table, so its next query sees it."""
        if big == self.big_is_live:
            return
        with self._connect() as conn, conn.transaction():
            conn.execute(f"ALTER TABLE orders_order RENAME TO {self.BIG}_swap")
            conn.execute(f"ALTER TABLE {self.BIG} RENAME TO orders_order")
            conn.execute(f"ALTER TABLE {self.BIG}_swap RENAME TO {self.BIG}")
        self.big_is_live = big

    def drop_big(self) -> None:
        self.use_big(False)
        with self._connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self.BIG}")

    def sample_numbers(self, table: str, path: Path, count: int = 2000) -> int:
        query = sql.SQL("SELECT number FROM {} ORDER BY random() LIMIT %s")
        with self._connect() as conn:
            rows = conn.execute(query.format(sql.Identifier(table)), [count]).fetchall()
        path.write_text("".join(f"{number}\n" for (number,) in rows))
        return len(rows)

    def states(self, numbers: list[str]) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT state, count(*) FROM orders_order WHERE number = ANY(%s) GROUP BY state",
                [numbers],
            ).fetchall()
        return dict(rows)

    def wait_until_none(self, numbers: list[str], state: str, timeout: float) -> bool:
        return wait_until(lambda: not self.states(numbers).get(state, 0), timeout, interval=0.5)

    def max_order_id(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM orders_order").fetchone()[0]

    def run_orders(self, after_id: int) -> dict:
        """The orders created since `after_id` was the highest id: how many, how many still
        `created`, the first and last created_at, and the last decision's time."""
        with self._connect() as conn:
            row = conn.execute(RUN_SQL, {"after": after_id}).fetchone()
        keys = ("count", "created", "first_created", "last_created", "last_decision")
        return dict(zip(keys, row, strict=True))

    def wait_until_none_since(self, after_id: int, state: str, timeout: float) -> bool:
        """Wait until no order created since `after_id` is in `state`; False on timeout."""
        query = "SELECT count(*) FROM orders_order WHERE id > %s AND state = %s"
        with self._connect() as conn:  # one connection for every poll
            return wait_until(
                lambda: not conn.execute(query, [after_id, state]).fetchone()[0],
                timeout,
                interval=0.25,
            )

    def webhooks_active(self, active: bool) -> None:
        """Turn every webhook subscription on or off (each process sees it within
        ORDERS_WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS)."""
        with self._connect() as conn:
            conn.execute("UPDATE orders_webhooksubscription SET active = %s", [active])

    def wait_until_no_webhook_pending(self, timeout: float) -> bool:
        query = "SELECT count(*) FROM orders_webhookdelivery WHERE status = 'pending'"
        with self._connect() as conn:
            return wait_until(lambda: not conn.execute(query).fetchone()[0], timeout, interval=0.25)

    def webhooks_delivered(self) -> int:
        query = "SELECT count(*) FROM orders_webhookdelivery WHERE status = 'delivered'"
        with self._connect() as conn:
            return conn.execute(query).fetchone()[0]

    def retire_created(self) -> int:
        with self._connect() as conn:
            return conn.execute(RETIRE_SQL).rowcount

    def journeys(self, numbers: list[str]) -> list[tuple]:
        """(number, state, created_at, payment outcome, paid_at, delivered_at) per order."""
        with self._connect() as conn:
            return conn.execute(E2E_SQL, [numbers]).fetchall()


class Broker:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)

    def _queues(self) -> list[bytes]:
        # Celery's queues are Redis lists named after the queue (plus priority suffixes); the
        # _kombu.binding.* sets must stay, or nothing would be routed any more.
        return [k for k in self.client.scan_iter(b"celery*") if self.client.type(k) == b"list"]

    def backlog(self) -> int:
        return sum(self.client.llen(k) for k in self._queues())

    def purge(self) -> int:
        """Drop the queued (not yet taken) tasks, so that a run does not pay for the previous
        run's backlog; the orders they were for stay `created`."""
        dropped = self.backlog()
        for key in self._queues():
            self.client.delete(key)
        time.sleep(0.5)  # let the tasks already taken (prefetch 1 per process) finish
        return dropped
