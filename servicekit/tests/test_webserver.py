"""The HTTP server both services run (servicekit/webserver.py), as the environment sets it up."""

import logging.config

import pytest
from granian.constants import HTTPModes

from servicekit import webserver


def test_the_server_is_sized_and_bounded_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WEB_BIND", "127.0.0.1:3999")
    monkeypatch.setenv("WEB_WORKERS", "3")
    monkeypatch.setenv("WEB_THREADS", "5")
    monkeypatch.setenv("WEB_GRACEFUL_TIMEOUT", "7")
    monkeypatch.setenv("WEB_MAX_RSS_MIB", "300")
    monkeypatch.delenv("WEB_QUEUE_LENGTH", raising=False)

    options = webserver.server_options(tmp_path)

    assert (options["address"], options["port"]) == ("127.0.0.1", 3999)
    # The application's 5 threads, as many callers, the admission gate's line and the probes'.
    assert (options["workers"], options["blocking_threads"]) == (3, 5 + 5 + 32 + 1 + 4)
    assert options["workers_kill_timeout"] == 7  # a worker that hangs cannot hold the stop up
    assert options["workers_max_rss"] == 300
    assert options["respawn_failed_workers"]


def test_the_server_defaults_to_one_process_a_core_and_http_1_with_a_bounded_head(
    monkeypatch, tmp_path
):
    for name in ("WEB_BIND", "WEB_WORKERS", "WEB_THREADS", "WEB_QUEUE_LENGTH"):
        monkeypatch.delenv(name, raising=False)

    options = webserver.server_options(tmp_path)

    assert (options["workers"], options["blocking_threads"]) == (2, 4 + 4 + 32 + 1 + 4)
    assert options["port"] == 8000
    assert options["http"] == HTTPModes.http1  # no cleartext HTTP/2 beside the documented limits
    assert options["http1_settings"].max_buffer_size == 48 * 1024
    assert options["blocking_threads_idle_timeout"] == 600  # threads keep their connections


def test_the_servers_own_lines_are_json_where_the_services_are(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    config = webserver.log_config(tmp_path / "orders_project")

    formatter = config["formatters"]["json"]
    assert formatter["()"] == "servicekit.logging.JsonFormatter"
    assert formatter["service"] == "orders"
    assert set(config["loggers"]) == {"_granian", "granian.access"}
    assert config["loggers"]["_granian"] is not config["loggers"]["granian.access"]

    monkeypatch.setenv("DJANGO_ENV", "local")
    text = webserver.log_config(tmp_path / "orders_project")
    assert text["formatters"]["generic"]["fmt"] == "[%(levelname)s] %(message)s"  # granian's own


@pytest.mark.parametrize("environment", ["local", "production"])
def test_the_servers_thread_count_warning_is_dropped_and_its_other_lines_kept(
    monkeypatch, tmp_path, environment
):
    monkeypatch.setenv("DJANGO_ENV", environment)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    root, granian_logger = logging.getLogger(), logging.getLogger("_granian")
    for logger in (root, granian_logger):  # dictConfig replaces them; later tests get them back
        for attribute in ("handlers", "filters", "level", "propagate"):
            monkeypatch.setattr(logger, attribute, getattr(logger, attribute))
    logging.config.dictConfig(webserver.log_config(tmp_path / "orders_project"))
    shown = []
    monkeypatch.setattr(granian_logger.handlers[0], "emit", shown.append)

    granian_logger.warning(
        "Configuration allows spawning up to 45 Python threads, which seems quite high "
        "compared to the number of CPU cores available."
    )
    granian_logger.warning("Workers respawn is configured, but ...")

    assert [record.getMessage() for record in shown] == ["Workers respawn is configured, but ..."]
