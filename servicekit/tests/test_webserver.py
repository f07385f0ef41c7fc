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
    assert (options["workers"], options["blocking_threads"]) == (3, 5 + 5 + 128 + 1 + 4)
    assert options["workers_kill_timeout"] == 7  # a worker that hangs cannot hold the stop up
    assert options["workers_max_rss"] == 300
    assert options["respawn_failed_workers"]


def test_the_server_defaults_to_one_process_a_core_and_http_1_with_a_bounded_head(
    monkeypatch, tmp_path
):
    for name in ("WEB_BIND", "WEB_WORKERS", "WEB_THREADS", "WEB_QUEUE_LENGTH"):
        monkeypatch.delenv(name, raising=False)

    options = webserver.server_options(tmp_path)

    assert (options["workers"], options["blocking_threads"]) == (2, 4 + 4 + 128 + 1 + 4)
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


def test_connections_are_taken_far_above_what_the_gate_lets_through(monkeypatch, tmp_path):
    # granian's own default, 1024 over the workers, left connections past 512 a process waiting
    # unaccepted while earlier keep-alive ones held their permits: no answer at all, not a 503.
    for name in ("WEB_MAX_CONNECTIONS", "WEB_BACKLOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(webserver.resource, "getrlimit", lambda which: (1024, 65536))

    options = webserver.server_options(tmp_path)

    assert (options["backpressure"], options["backlog"]) == (4096, 4096)


def test_connections_and_backlog_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WEB_MAX_CONNECTIONS", "100")
    monkeypatch.setenv("WEB_BACKLOG", "300")

    options = webserver.server_options(tmp_path)

    assert (options["backpressure"], options["backlog"]) == (100, 300)


def test_connections_stay_within_the_open_files_hard_limit(monkeypatch, caplog):
    monkeypatch.delenv("WEB_MAX_CONNECTIONS", raising=False)
    limits = {"now": (1024, 2048)}
    monkeypatch.setattr(webserver.resource, "getrlimit", lambda which: limits["now"])
    monkeypatch.setattr(
        webserver.resource, "setrlimit", lambda which, value: limits.update(now=value)
    )

    webserver.raise_open_files_limit()

    # The soft limit raised to the hard one; the connections what it leaves beside other files.
    assert limits["now"] == (2048, 2048)
    assert webserver.connection_limits() == (4096, 2048 - webserver.OTHER_FILES)
    assert "open-files hard limit (2048)" in caplog.text


def test_the_soft_open_files_limit_is_raised_to_fit_the_connections(monkeypatch, caplog):
    monkeypatch.setenv("WEB_MAX_CONNECTIONS", "1000")
    limits = {"now": (1024, 65536)}
    monkeypatch.setattr(webserver.resource, "getrlimit", lambda which: limits["now"])
    monkeypatch.setattr(
        webserver.resource, "setrlimit", lambda which, value: limits.update(now=value)
    )

    webserver.raise_open_files_limit()

    assert limits["now"] == (1000 + webserver.OTHER_FILES, 65536)
    assert not caplog.text  # nothing bounds them: nothing to say
