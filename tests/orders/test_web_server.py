"""docker/web.py: the granian server both services run, built from the environment."""

import logging.config
import runpy
from pathlib import Path

import pytest
from granian.constants import Interfaces

ROOT = Path(__file__).resolve().parents[2]
WEB = runpy.run_path(str(ROOT / "docker" / "web.py"))
SETTINGS = ("WEB_BIND", "WEB_WORKERS", "WEB_THREADS", "WEB_GRACEFUL_TIMEOUT", "WEB_MAX_RSS_MIB")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (*SETTINGS, "WEB_ACCESS_LOG", "LOG_FORMAT", "DJANGO_ENV", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_web_server_defaults_suit_the_two_core_machine():
    server = WEB["server"](ROOT / "orders_project")

    assert server.interface == Interfaces.WSGI
    assert (server.bind_addr, server.bind_port) == ("0.0.0.0", 8000)  # noqa: S104
    assert (server.workers, server.blocking_threads) == (4, 2)
    assert server.workers_kill_timeout == 20  # graceful stop: requests in flight may finish
    assert server.respawn_failed_workers is True
    assert server.log_access is False


def test_web_server_reads_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_BIND", "127.0.0.1:3001")
    monkeypatch.setenv("WEB_WORKERS", "2")
    monkeypatch.setenv("WEB_THREADS", "4")
    monkeypatch.setenv("WEB_GRACEFUL_TIMEOUT", "5")
    monkeypatch.setenv("WEB_ACCESS_LOG", "1")

    server = WEB["server"](ROOT / "payments_project")

    assert (server.bind_addr, server.bind_port) == ("127.0.0.1", 3001)
    assert (server.workers, server.blocking_threads) == (2, 4)
    assert server.workers_kill_timeout == 5
    assert server.log_access is True


def test_web_server_logs_json_outside_local_runs(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "production")

    config = WEB["log_config"](ROOT / "orders_project")

    assert config["formatters"]["json"] == {
        "()": "config.logging.JsonFormatter",
        "service": "orders",
    }
    assert config["loggers"]["_granian"]["handlers"] == ["console"]
    logging.config.dictConfig(config)  # a configuration logging accepts, formatter and all
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_web_server_keeps_granian_text_in_local_runs(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "local")
    assert WEB["log_config"](ROOT / "orders_project") is None
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert WEB["log_config"](ROOT / "orders_project") is not None
