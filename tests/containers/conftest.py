"""The container test's session: podman's Docker API (tools/containers/podman_engine.py) with
the stand-in base images (tools/containers/standins/build.sh), and `make` run against it as a
user would run it.

Needs root and Debian's podman, runc, catatonit, netavark, aardvark-dns and mmdebstrap:
`make test-containers` installs them first.
"""

import socket
import subprocess
import time
from pathlib import Path

import compose
import pytest
from compose_stack import KNOBS, PORTS, REPO, containers
from podman_engine import PodmanEngine

STANDINS = REPO / "tools" / "containers" / "standins" / "build.sh"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"  # make install-dev's
MAKE_SECONDS = 300  # a cold build and make up's own --wait-timeout

_report: list[str] = []


def port_is_taken(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(1)
        return client.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    taken = [f"127.0.0.1:{port}" for port in PORTS if port_is_taken(port)]
    if taken:
        pytest.exit(
            f"{', '.join(taken)} already in use, where the stack publishes its ports: stop what "
            "listens there (ss -ltnp) and run again.",
            returncode=1,
        )
    with PodmanEngine(tmp_path_factory.mktemp("podman"), COMPOSE_BINARY) as engine:
        subprocess.run([STANDINS], env=engine.env, check=True)
        yield engine


@pytest.fixture(scope="session")
def report():
    """Lines for the end of the run: the timings and sizes the container test measured."""
    return _report


def pytest_terminal_summary(terminalreporter):
    if _report:
        terminalreporter.section("container test: measured")
        for line in _report:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def make_env(engine) -> dict[str, str]:
    """The environment make runs in: the engine's, with the stack's knobs."""
    env = {**engine.env, **KNOBS}
    for inherited in ("COMPOSE", "V"):  # a user's choice of compose or volumes is not the test's
        env.pop(inherited, None)
    return env


@pytest.fixture(scope="session")
def make(engine, make_env):
    """Run one make target against the engine; its output and seconds."""

    def run(*args: str) -> tuple[str, float]:
        started = time.monotonic()
        done = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=REPO,
            env=make_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=MAKE_SECONDS,
        )
        seconds = time.monotonic() - started
        tail = "\n".join(done.stdout.splitlines()[-60:])
        if engine.health_ticker_error:
            tail += f"\n(the health checks' runner: {engine.health_ticker_error})"
        assert done.returncode == 0, f"make {' '.join(args)}: {tail}"
        return done.stdout, seconds

    yield run
    if containers(engine):  # a test failed before make down V=1: its logs, then clean up
        logs = subprocess.run(
            [COMPOSE_BINARY, "logs", "--tail", "30"],
            cwd=REPO,
            env=make_env,
            capture_output=True,
            text=True,
        )
        print(logs.stdout[-20000:])
        run("down", "V=1")
