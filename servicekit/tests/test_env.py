"""servicekit/env.py: django-environ's readers with our checks on top; a bad value stops the
service at start and names the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from servicekit.env import (
    Rate,
    env_bool,
    env_database,
    env_list,
    env_number,
    env_rate,
    env_secret,
)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), (" on ", True), ("0", False), ("no", False)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled"])
def test_env_bool_refuses_anything_else(monkeypatch, raw):
    # django-environ alone would take each of these for False.
    monkeypatch.setenv("SOME_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", True)


def test_env_number_takes_the_default_when_unset_and_checks_the_bounds(monkeypatch):
    monkeypatch.delenv("SOME_NUMBER", raising=False)
    assert env_number("SOME_NUMBER", 7) == 7
    monkeypatch.setenv("SOME_NUMBER", "2.5")
    assert env_number("SOME_NUMBER", 7.0, kind=float, maximum=3) == 2.5
    for raw, message in [("lots", "a int"), ("-1", ">= 0"), ("4", "<= 3")]:
        monkeypatch.setenv("SOME_NUMBER", raw)
        with pytest.raises(ImproperlyConfigured, match=f"SOME_NUMBER must be {message}"):
            env_number("SOME_NUMBER", 1, maximum=3)


def test_env_list_trims_its_items_and_drops_empty_ones(monkeypatch):
    monkeypatch.setenv("SOME_LIST", " a, b ,,c ")
    assert env_list("SOME_LIST", ["default"]) == ["a", "b", "c"]
    monkeypatch.delenv("SOME_LIST")
    assert env_list("SOME_LIST", ["default"]) == ["default"]


def test_env_secret_has_a_default_only_in_a_local_run(monkeypatch):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    assert env_secret("SOME_SECRET", local_default="dev", is_local=True) == "dev"
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET must be set"):
        env_secret("SOME_SECRET", local_default="dev", is_local=False)


def test_env_database_reads_a_url_with_its_options(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "SOME_DATABASE_URL", "postgres://u:p%40ss@db.example:5433/things?sslmode=require"
    )

    config = env_database("SOME_DATABASE_URL", sqlite_path=tmp_path / "unused.sqlite3")

    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("things", "u", "p@ss")
    assert (config["HOST"], config["PORT"]) == ("db.example", 5433)
    assert config["OPTIONS"] == {
        "sslmode": "require",
        "connect_timeout": 5,
        "server_side_binding": True,
        "prepare_threshold": 5,
    }


@pytest.mark.parametrize(
    ("value", "bound_by_server", "prepared_after"), [("0", False, None), ("1", True, 5)]
)
def test_env_database_binds_and_prepares_on_the_server_unless_told_not_to(
    monkeypatch, tmp_path, value, bound_by_server, prepared_after
):
    monkeypatch.setenv("SOME_DATABASE_URL", "postgres://u@db.example:5432/things")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", value)

    config = env_database("SOME_DATABASE_URL", sqlite_path=tmp_path / "unused.sqlite3")

    assert config["OPTIONS"]["server_side_binding"] is bound_by_server
    # Django leaves psycopg's preparing off (None) unless it is given a threshold.
    assert config["OPTIONS"]["prepare_threshold"] == prepared_after


def test_env_database_defaults_to_sqlite_beside_its_test_file(monkeypatch, tmp_path):
    monkeypatch.delenv("SOME_DATABASE_URL", raising=False)

    config = env_database("SOME_DATABASE_URL", sqlite_path=tmp_path / "var" / "things.sqlite3")

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "var" / "things.sqlite3")
    assert config["TEST"]["NAME"] == str(tmp_path / "var" / "things.test.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("0", None), ("20/s", Rate(20, 1)), ("600/m", Rate(600, 60)), (" 5 / S ", Rate(5, 1))],
)
def test_env_rate_reads_a_rate_per_second_or_minute(monkeypatch, raw, rate):
    monkeypatch.setenv("SOME_RATE", raw)

    assert env_rate("SOME_RATE", "1/s") == rate


@pytest.mark.parametrize("raw", ["20", "20/h", "0/s", "-1/s", "fast", "20/s/m"])
def test_env_rate_refuses_anything_else_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("SOME_RATE", raw)

    with pytest.raises(ImproperlyConfigured, match="SOME_RATE"):
        env_rate("SOME_RATE", "1/s")
