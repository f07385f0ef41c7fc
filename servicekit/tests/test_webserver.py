"""The HTTP server both services run (servicekit/webserver.py), as the environment sets it up."""

from servicekit import webserver


def test_the_server_is_sized_and_bounded_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WEB_BIND", "127.0.0.1:3999")
    monkeypatch.setenv("WEB_WORKERS", "3")
    monkeypatch.setenv("WEB_THREADS", "5")
    monkeypatch.setenv("WEB_GRACEFUL_TIMEOUT", "7")
    monkeypatch.setenv("WEB_MAX_RSS_MIB", "300")

    server = webserver.server(tmp_path)

    assert (server.bind_addr, server.bind_port) == ("127.0.0.1", 3999)
    assert (server.workers, server.blocking_threads) == (3, 5)
    assert server.workers_kill_timeout == 7  # a worker that hangs cannot hold the stop up
    assert server.workers_rss == 300 * 1024 * 1024
    assert server.respawn_failed_workers
    assert server.http1_settings.max_buffer_size == webserver.MAX_HEAD_BYTES
    assert server.blocking_threads_idle_timeout == webserver.THREAD_IDLE_SECONDS


def test_the_servers_own_lines_are_json_where_the_services_are(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    config = webserver.log_config(tmp_path / "orders_project")

    formatter = config["formatters"]["json"]
    assert formatter["()"] == "servicekit.logging.JsonFormatter"
    assert formatter["service"] == "orders"
    assert set(config["loggers"]) == {"_granian", "granian.access"}

    monkeypatch.setenv("DJANGO_ENV", "local")
    assert webserver.log_config(tmp_path / "orders_project") is None  # granian's own text
