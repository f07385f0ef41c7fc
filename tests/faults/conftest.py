"""The fault suite's system: fresh PostgreSQL databases (pg_terminate_backend needs a server), a
private Redis, both web servers, the Celery worker and beat, each started on its own so
that a scenario can kill one while the rest keeps running. Everything started here is stopped
at the end, on failure and on Ctrl-C or SIGTERM too.

Each scenario appends a row to RESULTS; the table is printed at the end of the run and written
to artifacts/faults.txt."""

import os
import shutil
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from fault_checks import assess, wait_settled
from fault_load import OrderLoad
from fault_report import Row, format_table
from fault_snapshot import Databases, scope_of
from fault_stack import ROOT, System, fresh_postgres_databases
from fault_supervised import SupervisedStack

REPORT = ROOT / "artifacts" / "faults.txt"
KEEP_LOG_RUNS = 3
RESULTS: list[Row] = []


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def system():
    # Ctrl-C, and SIGTERM from a CI timeout, stop the run through the teardown below, also where
    # the shell started it with SIGINT ignored (a background job).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    # One directory per run (several people may run the suite in this tree); the last few stay.
    runs = ROOT / "artifacts" / "faults-logs"
    log_dir = runs / time.strftime(f"%Y%m%d-%H%M%S-{os.getpid()}")
    log_dir.mkdir(parents=True)
    for old in sorted(path for path in runs.iterdir() if path.is_dir())[:-KEEP_LOG_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    try:
        with fresh_postgres_databases("ORDERS_DATABASE_URL", "PAYMENTS_DATABASE_URL") as urls:
            running = System(log_dir=log_dir, orders_db=urls[0], payments_db=urls[1])
            try:
                running.allowed = running.prepare()
                running.databases = Databases(*urls)
                running.start_all()
                yield running
            finally:
                running.stop_all()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Scenario:
    def __init__(self, system: System, name: str):
        self.system = system
        self.row = Row(name)
        self.since_order_id, self.since_payment_id = system.databases.high_water()
        self.extra: set[str] = set()
        # Orders this scenario made Payments refuse on purpose, with the amount it paid them with
        # first: judged by fault_checks.refused_problems(), and not waited for.
        self.refused: dict[str, Decimal] = {}
        self.fault_end: float | None = None
        self.snapshot = None

    def fault_over(self) -> None:
        self.fault_end = time.monotonic()

    def note(self, text: str) -> None:
        self.row.notes.append(text)

    def _supervise(self) -> None:
        if dead := self.system.heal():
            self.row.crashed += len(dead)
            self.note(f"died by itself, restarted: {', '.join(dead)}")

    def settle(self, load: OrderLoad) -> Row:
        """Wait (bounded) until every order settled, then count what went wrong."""
        assert self.fault_end is not None, "fault_over() was not called"

        def waited_for(snap):
            scope = scope_of(snap, self.since_order_id, self.extra)
            return {n: order for n, order in scope.items() if n not in self.refused}

        snapshot, recovery = wait_settled(
            self.system.databases,
            waited_for,
            fault_end=self.fault_end,
            backlog_fn=lambda: self.system.broker_backlog()[0],
            on_poll=self._supervise,
        )
        row = assess(
            self.row,
            snapshot,
            scope=scope_of(snapshot, self.since_order_id, self.extra),
            posted=load.created,
            since_order_id=self.since_order_id,
            since_payment_id=self.since_payment_id,
            allowed=self.system.allowed,
            refused=self.refused,
        )
        row.recovery = recovery
        self.snapshot = snapshot
        row.refused = sum(load.refused.values())
        row.unanswered_but_stored += load.replayed
        if load.refused:
            self.note(f"refused: {load.describe_refusals()}")
        RESULTS.append(row)
        return row

    def assert_clean(self, *, refusals_expected: bool = False) -> None:
        """Every violation count is zero, the system took orders at all, and it refused none
        unless the fault was one that Orders' own requests depend on (the broker, the database)."""
        violations = self.row.violations()
        if not self.row.created:
            violations["created"] = 0
        if self.row.refused and not refusals_expected:
            violations["refused"] = self.row.refused
        if self.row.recovery is None:
            violations["recovery"] = "timeout"
        assert not violations, (
            f"{self.row.scenario}: {violations}\n"
            + "\n".join(self.row.examples)
            + f"\n--- worker log ({self.system.processes.log_dir}) ---\n"
            + self.system.processes.log_tail("worker", 20)
        )


@pytest.fixture
def scenario(system):
    """Begin a scenario; every role is running first, whatever the one before left behind."""
    if dead := system.heal():
        print(f"restarted before the scenario: {', '.join(dead)}")

    def begin(name: str) -> Scenario:
        return Scenario(system, name)

    return begin


@pytest.fixture
def supervised(system):
    """`make run-prod` (the launcher under supervisord) on fresh databases of its own and a Redis
    database of its own on the suite's server, beside the suite's system; stopped at the end."""
    with fresh_postgres_databases("ORDERS_DATABASE_URL", "PAYMENTS_DATABASE_URL") as urls:
        stack = SupervisedStack(
            log_dir=system.processes.log_dir,
            orders_db=urls[0],
            payments_db=urls[1],
            redis_url=system.redis_url.rpartition("/")[0] + "/1",
        )
        stack.allowed = system.allowed
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def supervised_scenario(supervised):
    """Begin a scenario on the supervised stack."""

    def begin(name: str) -> Scenario:
        return Scenario(supervised, name)

    return begin


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    table = format_table(RESULTS)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(table + "\n")
    terminalreporter.write_sep("=", f"faults (also in {Path(REPORT).relative_to(ROOT)})")
    terminalreporter.write_line(table)
