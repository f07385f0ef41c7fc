"""Run test suites at once, as `make test` and `make test-unit` do: each suite's output goes to a
file of its own and is printed whole when the suite ends (never interleaved line by line), and
the last lines say how each one ended; the exit code is 1 if any failed.

    python tests/run_suites.py NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is a shell command line (the Makefile's PYTEST_* variables), started in the order
given. Ctrl-C reaches every suite (they share the terminal's process group); the output each
wrote so far is printed all the same."""

import os
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
        return "passed" if code == 0 else f"FAILED (exit code {code})"


def start(name: str, command: str, logs: str) -> Suite:
    log = open(os.path.join(logs, f"{name}.log"), "w+")  # noqa: SIM115 (report closes it)
    env = dict(os.environ)
    if sys.stdout.isatty():
        env.setdefault("PY_COLORS", "1")  # pytest writes to a file but is read on a terminal
    # The Makefile's own command lines (cd ... && ...): a shell runs them, as make would.
    process = subprocess.Popen(  # noqa: S602
        command, shell=True, stdout=log, stderr=subprocess.STDOUT, env=env
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


def main(arguments: list[str]) -> int:
    if not arguments or not all("=" in argument for argument in arguments):
        print(__doc__, file=sys.stderr)
        return 2
    named = [argument.split("=", 1) for argument in arguments]
    names = ", ".join(name for name, _ in named)
    print(f"running at once: {names} (each one's output is printed as it ends)", flush=True)
    with tempfile.TemporaryDirectory(prefix="suites-") as logs:
        suites = [start(name, command, logs) for name, command in named]
        try:
            wait_all(suites)
        except KeyboardInterrupt:
            for suite in suites:
                suite.process.wait()
            wait_all(suites)
    print("\n== " + ", ".join(f"{suite.name} {suite.outcome}" for suite in suites))
    return 0 if all(suite.process.returncode == 0 for suite in suites) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
