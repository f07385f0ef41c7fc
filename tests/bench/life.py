"""The pipeline against the whole-life ceiling: how many orders a second the whole system takes
from POST to payment decision, and how many a second PostgreSQL runs the bare SQL of an order's
whole life (order_life.pgbench), measured in alternating rounds."""

import re
import statistics
from datetime import UTC, datetime

import loads
import psycopg
from stack import DELIVERY_DELAY_SECONDS

LIFE_CLIENTS = (1, 16)  # one order at a time (the ceiling the target is set against), and 16
PAYMENTS_TABLE = "payments_payment"
LIFE_ORDER, LIFE_HISTORY, LIFE_PAYMENT = "bench_life_order", "bench_life_history", "bench_payment"

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
CONSTRAINTS_SQL = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'c', 'x')
"""
# The indexes that back no constraint (Django's varchar_pattern_ops `_like` index, say).
INDEXES_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""
HISTORY_FK_SQL = """
SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'orders_orderstatechange'::regclass AND contype = 'f'
  AND confrelid = 'orders_order'::regclass
"""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def payments_table_ddl(payments_db: str) -> list[str]:
    """CREATE TABLE bench_payment and its constraints and indexes, as payments_payment has
    them in the Payments database: a LIKE copy cannot reach across databases, so the copy is
    rebuilt from that table's catalog (columns and types, NOT NULL, identity, the unique
    order_number and transaction_id, the CHECK constraints, every other index)."""
    with psycopg.connect(payments_db, autocommit=True) as conn:
        columns = conn.execute(COLUMNS_SQL, [PAYMENTS_TABLE]).fetchall()
        constraints = conn.execute(CONSTRAINTS_SQL, [PAYMENTS_TABLE]).fetchall()
        indexes = conn.execute(INDEXES_SQL, [PAYMENTS_TABLE]).fetchall()
    table = LIFE_PAYMENT
    defs = []
    for name, kind, not_null, identity, default in columns:
        column = f"{quote(name)} {kind}"
        if identity or (default and "nextval(" in default):
            column += f" GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
        elif default:
            column += f" DEFAULT {default}"
        defs.append(column + (" NOT NULL" if not_null else ""))
    ddl = [f"CREATE TABLE {table} ({', '.join(defs)})"]
    for name, definition in constraints:
        ddl.append(f"ALTER TABLE {table} ADD CONSTRAINT bench_{name} {definition}")
    for name, definition in indexes:
        definition = definition.replace(f"INDEX {name} ", f"INDEX bench_{name} ", 1)
        ddl.append(re.sub(r" ON (ONLY )?\S+ USING ", f" ON {table} USING ", definition, count=1))
    return ddl


def create_life_tables(orders_db: str, payments_db: str) -> None:
    payment_ddl = payments_table_ddl(payments_db)
    with psycopg.connect(orders_db, autocommit=True) as conn, conn.transaction():
        drop_life_tables(orders_db, conn)
        conn.execute(f"CREATE TABLE {LIFE_ORDER} (LIKE orders_order INCLUDING ALL)")
        conn.execute(f"CREATE TABLE {LIFE_HISTORY} (LIKE orders_orderstatechange INCLUDING ALL)")
        # LIKE copies no foreign key: the history's, by hand, as the real one is defined.
        for (definition,) in conn.execute(HISTORY_FK_SQL).fetchall():
            definition = definition.replace("REFERENCES orders_order(", f"REFERENCES {LIFE_ORDER}(")
            conn.execute(f"ALTER TABLE {LIFE_HISTORY} ADD {definition}")
        for statement in payment_ddl:
            conn.execute(statement)


def drop_life_tables(orders_db: str, conn=None) -> None:
    statement = f"DROP TABLE IF EXISTS {LIFE_HISTORY}, {LIFE_ORDER}, {LIFE_PAYMENT}"
    if conn is not None:
        conn.execute(statement)
        return
    with psycopg.connect(orders_db, autocommit=True) as own:
        own.execute(statement)


def seconds_between(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return float("nan")
    return (end - start).total_seconds()


class Pipeline:
    """Rounds of: the pipeline run, then the whole-life ceiling at each of LIFE_CLIENTS."""

    def __init__(self, bench):
        self.bench, self.args, self.db = bench, bench.args, bench.db

    def measure(self) -> dict:
        create_life_tables(self.bench.stack.orders_db, self.bench.stack.payments_db)
        try:
            self.bench.warm_up()
            pipeline, ceilings = [], {c: [] for c in LIFE_CLIENTS}
            for run in range(self.args.runs):
                pipeline.append(self.pipeline_run())
                for clients in LIFE_CLIENTS:
                    ceilings[clients].append(self.ceiling_run(clients))
                p = pipeline[-1]
                loads.log(
                    f"pipeline run {run + 1}: {p['accepted']} orders, {p['orders_per_s']:.0f}/s"
                    f" ({p['left_created']} left created); whole-life ceiling "
                    + ", ".join(f"{c} client(s) {v[-1]['tps']:.0f}/s" for c, v in ceilings.items())
                )
        finally:
            drop_life_tables(self.bench.stack.orders_db)
        ratios = [
            p["orders_per_s"] / c["tps"] if c["tps"] else float("nan")
            for p, c in zip(pipeline, ceilings[LIFE_CLIENTS[0]], strict=True)
        ]
        return {
            "pipeline": loads.summarize(pipeline),
            **{f"ceiling_{c}": loads.summarize(runs) for c, runs in ceilings.items()},
            # Run by run, each pipeline run against the ceiling measured right after it.
            "ratio": statistics.median(ratios),
            "ratio_runs": ratios,
            "left_created": sum(p["left_created"] for p in pipeline),
            "errors": sum(p["errors"] for p in pipeline),
        }

    def pipeline_run(self) -> dict:
        """wrk on POST /order with everything running, then the wait until no order of the run
        is `created`: accepted orders ÷ (the last decision - the first POST)."""
        self.bench.settle()
        after = self.db.max_order_id()
        seconds = self.args.pipeline_seconds
        posted = self.bench.wrk("post_order.lua", 16, seconds=seconds)
        decided = self.db.wait_until_none_since(
            after, "created", timeout=self.args.pipeline_timeout
        )
        waited_until = datetime.now(UTC)
        run = self.db.run_orders(after)
        # The decisions are the measure; the deliveries that follow are let through before the
        # ceiling's run, so that the delivery sweep does not load it.
        delivered = self.db.wait_until_none_since(
            after, "confirmed", timeout=DELIVERY_DELAY_SECONDS + 10
        )
        if decided:
            span = seconds_between(run["first_created"], run["last_decision"])
            counted = run["count"]
        else:  # still waiting at the timeout: what was decided, over the whole wait
            span = seconds_between(run["first_created"], waited_until)
            counted = run["count"] - run["created"]
        return {
            "orders_per_s": counted / span if span and span > 0 else float("nan"),
            "accepted": run["count"],
            "wrk_2xx": posted["requests"] - posted["non2xx"],
            "errors": posted["errors"],
            "non2xx": posted["non2xx"],
            "socket_errors": posted["socket_errors"],
            "post_rps": posted["rps"],
            "post_p99_ms": posted["p99_ms"],
            "left_created": run["created"],
            "timed_out": int(not decided),
            "span_s": span,
            # From the last order accepted to the last decision: how far the payments trailed.
            "trail_s": seconds_between(run["last_created"], run["last_decision"]),
            "all_delivered": int(delivered),
        }

    def ceiling_run(self, clients: int) -> dict:
        return loads.pgbench(
            self.bench.stack.orders_db,
            clients=clients,
            seconds=self.args.seconds,
            workdir=self.bench.workdir,
            script="order_life.pgbench",
        )
