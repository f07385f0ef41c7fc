"""`make run-prod`'s supervision (tools/launcher/run_local.py --supervise,
tools/launcher/supervise.py): a child that dies is started again while the others keep serving,
one that keeps dying stops everything with a clear message, and Ctrl-C still stops everything
cleanly. Each test runs its own stack on
the embedded default (or fresh PostgreSQL databases, as the rest of the suite)."""

import configparser
import os
import re
import signal
import time

import pytest
import requests
from launcher_scripts import load_launcher_script
from live_stack import LiveStack, live_stack
from test_scenario import create_order, wait_for_state

pytestmark = pytest.mark.e2e

pytest.importorskip("supervisor", reason="supervisor is not installed: run `make install`")

SPAWNED = re.compile(r"spawned: '(\w[\w-]*)' with pid (\d+)")
CHILDREN = ("redis", "worker", "payments", "orders", "beat")


def spawned(stack: LiveStack) -> list[tuple[str, int]]:
    """supervisord's "spawned" lines in the stack's log, in order: (program, pid)."""
    return [(name, int(pid)) for name, pid in SPAWNED.findall(stack.log_path.read_text())]


def pid_of(stack: LiveStack, name: str, *, other_than: int = 0, timeout: float = 60) -> int:
    """The pid of `name`'s latest start, once it is not `other_than`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for program, pid in spawned(stack) if program == name]
        if pids and pids[-1] != other_than:
            return pids[-1]
        time.sleep(0.1)
    pytest.fail(f"{name} was not started again in {timeout:.0f}s:\n{stack.log_tail()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone too: its parent (supervisord) has not reaped it yet.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def wait_worker_ready(stack: LiveStack, *, starts: int, timeout: float = 60) -> None:
    """Until the worker has said "ready" `starts` times in the stack's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.log_path.read_text().count(" ready.\n") >= starts:
            return
        time.sleep(0.1)
    pytest.fail(f"the worker was not ready {starts} time(s) in {timeout:.0f}s")


def test_a_dead_worker_is_started_again_while_the_web_keeps_serving(tmp_path):
    with live_stack(tmp_path, launcher_args=("--supervise",)) as stack:
        worker = pid_of(stack, "worker")
        # Killed at work, once it had started: the worker that dies in production.
        wait_worker_ready(stack, starts=1)
        os.kill(worker, signal.SIGKILL)
        for url in (stack.orders_url, stack.payments_url):  # the others keep serving
            assert requests.get(f"{url}/health/live", timeout=5).status_code == 200
        restarted = pid_of(stack, "worker", other_than=worker)
        assert alive(restarted)
        # The new worker charges orders.
        number = create_order(stack, method="test_confirm")["orderNumber"]
        assert wait_for_state(stack, number, {"confirmed", "delivered"}, timeout=90)
        children = [pid for _, pid in spawned(stack)]
    # What Ctrl-C does: every child stops, in order, and the launcher exits with 0.
    assert stack.exit_code == 0, stack.log_tail()
    assert not [pid for pid in children if alive(pid)]


def test_a_child_that_keeps_dying_stops_everything_with_a_clear_message(tmp_path):
    settings = {"SUPERVISE_MAX_FAILURES": "2", "SUPERVISE_FAILURE_WINDOW_SECONDS": "120"}
    with live_stack(tmp_path, launcher_args=("--supervise",), **settings) as stack:
        first = pid_of(stack, "worker")
        os.kill(first, signal.SIGKILL)
        os.kill(pid_of(stack, "worker", other_than=first), signal.SIGKILL)
        try:
            stack.process.wait(timeout=120)
        except Exception:
            pytest.fail(f"the launcher did not give up:\n{stack.log_tail()}")
        children = [pid for _, pid in spawned(stack)]
    log = stack.log_path.read_text()
    assert stack.exit_code == 1, stack.log_tail()
    # Either net may be first to give up, both naming the worker: the listener counting its
    # failures ("worker failed 2 times within 120 s"), or supervisord itself, when the second
    # kill lands while the worker is still starting ("worker could not be started").
    assert re.search(r"gave up: worker (failed 2 times within 120 s|could not be started)", log)
    assert not [pid for pid in children if alive(pid)]
    # Every child was supervised (Redis only when the launcher starts its own).
    expected = set(CHILDREN) - ({"redis"} if os.environ.get("REDIS_URL") else set())
    assert {name for name, _ in spawned(stack)} >= expected


def test_give_up_counts_each_programs_failures_within_the_window_only():
    give_up = load_launcher_script("supervise_give_up")
    window = give_up.FailureWindow(max_failures=3, window_seconds=60)
    exited = {"processname": "worker", "from_state": "RUNNING"}

    def verdict(fields, now, event="PROCESS_STATE_EXITED"):
        return give_up.verdict(event, fields, window, now)

    assert verdict(exited, 0) is None
    assert verdict({"processname": "beat", "from_state": "RUNNING"}, 1) is None  # another one
    assert verdict(exited, 10) is None
    assert verdict(exited, 61) is None  # the first failure fell out of the window
    reason = verdict(exited, 62, event="PROCESS_STATE_BACKOFF")
    assert reason == "worker failed 3 times within 60 s (last: backoff from RUNNING)"
    fatal = give_up.verdict("PROCESS_STATE_FATAL", {"processname": "beat"}, window, 63)
    assert fatal == "beat could not be started: supervisord gave it up"


def test_supervisord_config_restarts_backs_off_and_stops_in_order(tmp_path):
    supervise = load_launcher_script("supervise")
    programs = [
        supervise.Program("redis", ["redis-server", "--port", "1"], tmp_path),
        supervise.Program("web", ["gunicorn", "-b", "x"], tmp_path, {"PCT": "50%"}),
    ]
    path = supervise.write_config(
        programs, directory=tmp_path, environ={"SUPERVISE_MAX_FAILURES": "3"}
    )
    config = configparser.RawConfigParser()
    config.read(path)
    redis, web = config["program:redis"], config["program:web"]
    # Started in the order given, stopped the other way round: Redis first up, last down.
    assert int(redis["priority"]) < int(web["priority"])
    for program in (redis, web):
        assert program["autorestart"] == "true"
        assert int(program["startsecs"]) == supervise.START_SECONDS  # shorter: backoff, retry
        assert int(program["startretries"]) == 4  # FATAL only after the listener's 3
        assert int(program["stopwaitsecs"]) == supervise.STOP_GRACE_SECONDS
        assert program["killasgroup"] == "true"
    assert web["environment"] == 'PCT="50%%"'  # supervisord expands %(name)s
    listener = config["eventlistener:give-up"]["command"]
    assert "--max-failures 3 --window 60" in listener
    with pytest.raises(ValueError, match="SUPERVISE_MAX_FAILURES"):
        supervise.policy({"SUPERVISE_MAX_FAILURES": "0"})
