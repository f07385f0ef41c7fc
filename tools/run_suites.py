"""Run test suites at once, as `make test` and `make test-unit` do: each suite's output goes to a
file of its own and is printed whole when the suite ends (never interleaved line by line), and
the last lines say how each one ended; the exit code is 1 if any failed.

    python tools/run_suites.py NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is a shell command line (the Makefile's PYTEST_* variables), started in the order
given, each in a process group of its own. Ctrl-C, or a SIGTERM or SIGHUP (make passes a CI
cancel on), is handed to every suite as SIGINT, which pytest answers by tearing down its fixtures:
the end-to-end suite stops the stacks it started, so no worker is left behind to take a later
run's tasks. Further signals are ignored while the suites stop; the output each wrote so far is
printed all the same, and the exit code is 130."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Suite:
    name: str
    command: str
    log: IO[str]
    process: subprocess.Popen = field(repr=False)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    reported: bool = False

    @property
    def outcome(self) -> str:
        code = self.process.returncode
        if code == 0:
            return "passed"
        if code < 0:
            return f"FAILED (killed by {signal.Signals(-code).name})"
        return f"FAILED (exit code {code})"


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """A stop signal arrived: the suites are told to stop."""


def start(name: str, command: str, logs: str) -> Suite:
    # errors="replace": one undecodable byte in a suite's output must not abort the report.
    log = open(os.path.join(logs, f"{name}.log"), "w+", errors="replace")  # noqa: SIM115
    env = dict(os.environ)
    if sys.stdout.isatty():
        env.setdefault("PY_COLORS", "1")  # pytest writes to a file but is read on a terminal
    # The Makefile's own command lines (cd ... && ...): a shell runs them, as make would.
    process = subprocess.Popen(  # noqa: S602
        command, shell=True, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    return Suite(name, command, log, process)


def report(suite: Suite) -> None:
    suite.seconds = time.monotonic() - suite.started
    suite.reported = True
    print(f"\n== {suite.name}: {suite.command}", flush=True)
    suite.log.seek(0)
    sys.stdout.write(suite.log.read())
    suite.log.close()
    print(f"== {suite.name}: {suite.outcome} in {suite.seconds:.0f} s", flush=True)


def wait_all(suites: list[Suite]) -> None:
    """Report each suite as it ends, the first to end first."""
    while waiting := [suite for suite in suites if not suite.reported]:
        for suite in waiting:
            if suite.process.poll() is not None:
                report(suite)
        time.sleep(0.2)


def stop(suites: list[Suite]) -> None:
    """Hand every suite still running a SIGINT (its whole process group), once."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    for suite in suites:
        if suite.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(suite.process.pid, signal.SIGINT)


def _raise_stopped(signum, frame):
    raise Stopped(signal.Signals(signum).name)


def main(arguments: list[str]) -> int:
    named = [argument.split("=", 1) for argument in arguments if "=" in argument]
    names = [name for name, _ in named]
    if not arguments or len(named) != len(arguments) or len(set(names)) != len(names):
        print(__doc__, file=sys.stderr)  # no NAME=COMMAND, or a NAME twice (one log each)
        return 2
    print(f"running at once: {', '.join(names)} (each one's output is printed as it ends)")
    sys.stdout.flush()
    stopped = False
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)
    with tempfile.TemporaryDirectory(prefix="suites-") as logs:
        suites = [start(name, command, logs) for name, command in named]
        try:
            wait_all(suites)
        except Stopped as signal_name:
            stopped = True
            print(f"\n== {signal_name}: stopping every suite", flush=True)
            stop(suites)
            wait_all(suites)
    print("\n== " + ", ".join(f"{suite.name} {suite.outcome}" for suite in suites))
    if stopped:
        return 130
    return 0 if all(suite.process.returncode == 0 for suite in suites) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
