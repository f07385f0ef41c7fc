#!/usr/bin/env python3
"""supervisord event listener of `make run-prod` (tools/launcher/supervise.py): gives up when a
child keeps failing.

supervisord restarts a child that exits, and backs off (1 s, 2 s, 3 s, ...) while one fails to
stay up for its startsecs; it has no rule for a child that starts, runs a while and dies again
and again. This listener counts each program's failures (an exit of a running child, or a start
that did not last) and, at the `--max-failures`th within `--window` seconds, or when supervisord
itself gave a program up (FATAL), writes why to `--gave-up` and sends supervisord SIGTERM: it
then stops every child in order, and the launcher exits with 1 and that message.

The protocol is supervisor.childutils'; stdout belongs to it, so messages go to stderr."""

import argparse
import os
import signal
import sys
import time
from collections import defaultdict, deque

from supervisor import childutils

FAILURES = {"PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF"}


class FailureWindow:
    """Failures per program; `failed()` says whether this one is the last allowed."""

    def __init__(self, *, max_failures: int, window_seconds: float):
        self.max_failures, self.window_seconds = max_failures, window_seconds
        self.seen: dict[str, deque] = defaultdict(deque)

    def failed(self, name: str, now: float) -> bool:
        times = self.seen[name]
        times.append(now)
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        return len(times) >= self.max_failures


def verdict(event: str, fields: dict, window: FailureWindow, now: float) -> str | None:
    """Why to give up after this event, or None."""
    name = fields.get("processname", "?")
    if event == "PROCESS_STATE_FATAL":
        return f"{name} could not be started: supervisord gave it up"
    if event in FAILURES and window.failed(name, now):
        last = event.removeprefix("PROCESS_STATE_").lower()
        return (
            f"{name} failed {window.max_failures} times within {window.window_seconds:g} s "
            f"(last: {last} from {fields.get('from_state')})"
        )
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-failures", type=int, required=True)
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--gave-up", required=True, help="file to write the reason to")
    args = parser.parse_args()
    window = FailureWindow(max_failures=args.max_failures, window_seconds=args.window)
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        fields = childutils.get_headers(payload.split("\n", 1)[0])
        reason = verdict(headers["eventname"], fields, window, time.monotonic())
        if reason:
            with open(args.gave_up, "w") as out:
                out.write(reason + "\n")
            print(f"[supervise] giving up: {reason}; stopping everything", file=sys.stderr)
            os.kill(os.getppid(), signal.SIGTERM)  # supervisord, which started this listener
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
