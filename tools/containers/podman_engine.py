"""Podman's Docker API on this kind of machine, for the container test: `make up` and
`make down` run against it exactly as they would against Docker's daemon.

What podman needs here (root, no systemd, a sandbox with low limits and hybrid cgroups):
- containers.conf: no default ulimits (podman's nofile/nproc defaults exceed what the sandbox
  allows), cgroupfs rather than systemd, runc (crun refuses hybrid cgroups), netavark (with
  aardvark-dns, so that services find each other by name on the compose network);
- `podman system service` on a socket of its own, which DOCKER_HOST names;
- DOCKER_BUILDKIT=0: compose would otherwise look for a BuildKit builder image to pull;
- DOCKER_CONFIG: a folder of its own, with an empty config.json and the compose binary as the
  docker CLI's plugin (cli-plugins/docker-compose);
- health checks run by someone: podman leaves their schedule to systemd timers, so HealthTicker
  runs `podman healthcheck run` at each container's interval, as Docker's daemon would.
"""

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"

[network]
network_backend = "netavark"
"""
TICK_SECONDS = 0.5
SERVICE_START_SECONDS = 30


class PodmanEngine:
    """Podman's Docker API, from `with` to its end; `env` is what a client needs to use it."""

    def __init__(self, home: Path, compose_binary: Path):
        self.home = home
        self.socket = home / "podman.sock"
        docker_config = home / "docker-config"
        (docker_config / "cli-plugins").mkdir(parents=True)
        (docker_config / "config.json").write_text("{}\n")
        (docker_config / "cli-plugins" / "docker-compose").symlink_to(compose_binary)
        (home / "containers.conf").write_text(CONTAINERS_CONF)
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(home / "containers.conf"),
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CONFIG": str(docker_config),
        }
        self._service: subprocess.Popen | None = None
        self._ticker: HealthTicker | None = None

    @property
    def health_ticker_error(self) -> str:
        """The last error of the health checks' runner, if any: why a service may stay starting."""
        return self._ticker.last_error if self._ticker else ""

    def podman(self, *args: str) -> str:
        """Run one podman command with this engine's configuration; its output."""
        return subprocess.run(
            ["podman", *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def __enter__(self) -> "PodmanEngine":
        with open(self.home / "service.log", "w") as log:
            self._service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._wait_for_socket()
        self._ticker = HealthTicker(self)
        self._ticker.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._ticker:
            self._ticker.stop()
        if self._service:
            self._service.terminate()
            try:
                self._service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()

    def _wait_for_socket(self) -> None:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while time.monotonic() < deadline:
            if self._service.poll() is not None:
                raise RuntimeError(f"podman system service exited: see {self.home}/service.log")
            try:
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(str(self.socket))
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"podman system service did not listen on {self.socket}")


class HealthTicker(threading.Thread):
    """Runs each running container's health check as Docker's daemon schedules it: the first one
    interval after the container started, each next one interval after the previous one ended."""

    def __init__(self, engine: PodmanEngine):
        super().__init__(name="podman-health-ticker", daemon=True)
        self.engine = engine
        self._stopped = threading.Event()
        self._intervals: dict[str, float | None] = {}  # container id -> seconds, None: no check
        self._due: dict[tuple[str, int], float] = {}  # (id, started at) -> next run, wall clock
        self._running: dict[tuple[str, int], subprocess.Popen] = {}
        self.last_error = ""

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)
        for check in self._running.values():
            check.kill()
            check.wait()

    def run(self) -> None:
        while not self._stopped.wait(TICK_SECONDS):
            try:
                self._tick()
            except (subprocess.SubprocessError, OSError, ValueError) as exc:
                # A container that went away between two podman calls; the next tick sees it gone.
                self.last_error = str(exc)

    def _tick(self) -> None:
        now = time.time()
        for key, check in list(self._running.items()):
            if check.poll() is not None:
                del self._running[key]
                self._due[key] = now + self._intervals[key[0]]
        for container in json.loads(self.engine.podman("ps", "--format", "json")):
            container_id, started_at = container["Id"], int(container["StartedAt"])
            interval = self._interval_of(container_id)
            key = (container_id, started_at)
            if interval is None or key in self._running:
                continue
            if now >= self._due.setdefault(key, started_at + interval):
                self._running[key] = subprocess.Popen(
                    ["podman", "healthcheck", "run", container_id],
                    env=self.engine.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )

    def _interval_of(self, container_id: str) -> float | None:
        if container_id not in self._intervals:
            check = json.loads(
                self.engine.podman(
                    "inspect", "--format", "{{json .Config.Healthcheck}}", container_id
                )
            )
            if check and check.get("Test") and check["Test"][0] != "NONE":
                # No interval: Docker's default, 30 s.
                self._intervals[container_id] = check.get("Interval", 0) / 1e9 or 30.0
            else:
                self._intervals[container_id] = None
        return self._intervals[container_id]
