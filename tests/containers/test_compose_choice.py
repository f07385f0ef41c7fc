"""Which compose `make up` and `make down` take: the docker CLI's plugin first (the stack's own
test sees it taken), then docker-compose on PATH, then make install-dev's in .venv; with none,
they say how to get one."""

import shutil
import subprocess

from compose_stack import REPO


def make_without_path(target: str, env: dict, *variables: str) -> subprocess.CompletedProcess:
    """make with an empty PATH: no docker CLI and no docker-compose to be found on it."""
    return subprocess.run(
        [shutil.which("make"), "--no-print-directory", target, *variables],
        cwd=REPO,
        env={**env, "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_up_without_any_compose_says_how_to_get_one(make_env):
    done = make_without_path("up", make_env, "VENV=/nonexistent")
    assert done.returncode == 2
    assert "no compose found" in done.stderr
    assert "make install-dev" in done.stderr


def test_make_down_falls_back_to_the_compose_in_venv(make_env):
    done = make_without_path("down", make_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== compose: .venv/bin/docker-compose (" in done.stdout
