"""`make run-prod`'s process manager: the launcher's children under supervisord (PyPI
`supervisor`), which restarts a child that dies while the others keep serving.

tools/launcher/run_local.py hands over its programs in start order; this module writes a supervisord
configuration for them into a private directory and runs supervisord in the foreground:

- Start order is priority order (Redis, the worker, the web services, beat); supervisord stops
  them the other way round, each given STOP_GRACE_SECONDS before SIGKILL to its process group.
- A child that exits is started again at once; one that does not stay up for START_SECONDS is
  retried with supervisord's backoff (1 s, 2 s, 3 s, ...).
- tools/launcher/supervise_give_up.py, a supervisord event listener, gives up when one program fails
  SUPERVISE_MAX_FAILURES times within SUPERVISE_FAILURE_WINDOW_SECONDS: supervisord stops
  everything and the launcher exits with 1, saying which program and why.
- Ctrl-C or SIGTERM to the launcher stops supervisord, and so every child, in order.

Children's output goes to supervisord's stdout (the terminal); `supervisorctl -c <conf>` works
while it runs (the launcher prints the path)."""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
START_SECONDS = 5
STOP_GRACE_SECONDS = 20
DEFAULT_MAX_FAILURES, DEFAULT_FAILURE_WINDOW_SECONDS = 5, 60


@dataclass
class Program:
    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)  # on top of the launcher's environment


def policy(environ: dict) -> tuple[int, float]:
    """(failures of one program that make the launcher give up, within how many seconds)."""
    failures = int(environ.get("SUPERVISE_MAX_FAILURES") or DEFAULT_MAX_FAILURES)
    window = environ.get("SUPERVISE_FAILURE_WINDOW_SECONDS") or DEFAULT_FAILURE_WINDOW_SECONDS
    window = float(window)
    if failures < 1 or window <= 0:
        raise ValueError("SUPERVISE_MAX_FAILURES must be 1 or more, the window above 0 seconds")
    return failures, window


def _quote(value: str) -> str:
    """A value of supervisord's configuration: it expands %(name)s, so % is doubled."""
    return value.replace("%", "%%")


def write_config(programs: list[Program], *, directory: Path, environ: dict) -> Path:
    max_failures, window = policy(environ)
    listener = [sys.executable, str(HERE / "supervise_give_up.py")]
    listener += ["--max-failures", str(max_failures), "--window", str(window)]
    listener += ["--gave-up", str(directory / "gave-up")]
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/null",  # its log goes to stdout in the foreground
        "logfile_maxbytes=0",
        f"pidfile={_quote(str(directory / 'supervisord.pid'))}",
        f"childlogdir={_quote(str(directory))}",
        "[unix_http_server]",
        f"file={_quote(str(directory / 'supervisor.sock'))}",
        "chmod=0700",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{_quote(str(directory / 'supervisor.sock'))}",
        "[eventlistener:give-up]",
        f"command={_quote(shlex.join(listener))}",
        "events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL",
        "stderr_logfile=/dev/stderr",
        "stderr_logfile_maxbytes=0",
    ]
    for priority, program in enumerate(programs, start=1):
        environment = ",".join(f'{key}="{_quote(value)}"' for key, value in program.env.items())
        lines += [
            f"[program:{program.name}]",
            f"command={_quote(shlex.join(program.args))}",
            f"directory={_quote(str(program.cwd))}",
            f"priority={priority * 10}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            # One more than the listener allows: it says why first; FATAL is the fallback.
            f"startretries={max_failures + 1}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_GRACE_SECONDS}",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
        ]
        if environment:
            lines.append(f"environment={environment}")
    path = directory / "supervisord.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    programs: list[Program],
    *,
    environ: dict,
    wait_ready: Callable[[subprocess.Popen], None],
    stop_requested: Callable[[], bool],
    log: Callable[[str], None],
) -> int:
    """Run `programs` under supervisord until a stop is requested (0) or the listener gave up
    (1). `wait_ready(supervisord)` raises RuntimeError if the system does not come up."""
    with tempfile.TemporaryDirectory(prefix="run-prod-") as tmp:
        directory = Path(tmp)
        config = write_config(programs, directory=directory, environ=environ)
        # Its own session: a terminal's Ctrl-C reaches the launcher, which stops supervisord.
        supervisord = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            env=environ,
            start_new_session=True,
        )
        log(f"supervisord started (pid {supervisord.pid}); supervisorctl -c {config} status")
        code = 0
        try:
            wait_ready(supervisord)
            while not stop_requested() and supervisord.poll() is None:
                time.sleep(0.5)
        except RuntimeError as exc:
            log(f"failed: {exc}")
            code = 1
        finally:
            if supervisord.poll() is None:
                log("stopping")
                supervisord.send_signal(signal.SIGTERM)
            try:
                # supervisord stops its children one priority after the other.
                supervisord.wait(timeout=STOP_GRACE_SECONDS * (len(programs) + 1))
            except subprocess.TimeoutExpired:
                log("supervisord did not stop in time, killing it")
                os.killpg(supervisord.pid, signal.SIGKILL)
                supervisord.wait()
        gave_up = directory / "gave-up"
        if gave_up.exists():
            log(f"gave up: {gave_up.read_text().strip()}")
            return 1
        if supervisord.returncode and not stop_requested():
            log(f"supervisord exited with {supervisord.returncode}")
            return 1
        return code
