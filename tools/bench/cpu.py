"""CPU time of the stack's processes, by group (each web service, the Celery worker and beat,
Redis, the stack's PostgreSQL backends): read from /proc/<pid>/stat before and after a run, so
that a run's CPU per order can be told process by process. A process that starts and ends
within the run is not seen (a backend of a short-lived connection, say), so a total is a lower
bound."""

import os
from pathlib import Path

from stack import children, cmdline, web_service

TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = (
    "Orders web",
    "Payments web",
    "Celery worker",
    "Celery beat",
    "Redis",
    "PostgreSQL backends",
)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants(root: int) -> set[int]:
    """`root` and every process under it."""
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children(pid))
    return found


def group_of(pid: int, databases: tuple[str, ...], ours: set[int]) -> str | None:
    """The stack's own processes only: on a shared machine other stacks run web servers, Celery
    and PostgreSQL backends too, and must not be counted."""
    command = cmdline(pid)
    if command.startswith("postgres") and any(f" {name} " in command for name in databases):
        return "PostgreSQL backends"
    if pid not in ours:
        return None
    if "redis-server" in command:
        return "Redis"
    if "celery" in command:
        return "Celery worker" if " worker" in command else "Celery beat"
    try:
        directory = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    if service := web_service(command, directory):
        return f"{service.title()} web"
    return None


def snapshot(launcher_pid: int, databases: tuple[str, ...]) -> dict[tuple[str, int], float]:
    """CPU seconds so far of every process of the stack started by `launcher_pid`, and of the
    PostgreSQL backends connected to `databases`, by (group, pid)."""
    ours = descendants(launcher_pid)
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return {
        (group, pid): cpu_seconds(pid) for pid in pids if (group := group_of(pid, databases, ours))
    }


def spent(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each group spent between two snapshots."""
    by_group: dict[str, float] = {}
    for (group, pid), seconds in after.items():
        by_group[group] = by_group.get(group, 0.0) + seconds - before.get((group, pid), 0.0)
    return by_group
