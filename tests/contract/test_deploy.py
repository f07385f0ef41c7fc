"""`manage.py check --deploy` in production: no warning but the two that depend on where TLS
ends (HSTS, the HTTPS redirect), and none once the environment sets those."""

import os
import secrets
import subprocess
import sys

import pytest
from common.errors import load_settings
from common.service import ROOT
from django.core.exceptions import ImproperlyConfigured

HTTPS_ONLY = {
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


def check_deploy(service, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SECURE_")},
        **service.production_env,
        # check --deploy counts a short or made-up key as a warning (security.W009).
        f"{service.name.upper()}_SECRET_KEY": secrets.token_urlsafe(50),
        service.var_dir_env: str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT / f"{service.name}_project",
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_in_production_warns_only_where_tls_ends(service, tmp_path):
    checked = check_deploy(service, tmp_path)
    output = checked.stdout + checked.stderr

    assert "(security.W004)" in output and "(security.W008)" in output, output
    assert "identified 2 issues" in output, output


def test_check_deploy_with_https_from_the_environment_has_no_warning(service, tmp_path):
    checked = check_deploy(service, tmp_path, **HTTPS_ONLY)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_settings_take_https_from_the_environment(monkeypatch, tmp_path, service):
    env = {**service.production_env, **HTTPS_ONLY}
    loaded = load_settings(monkeypatch, tmp_path, service.var_dir_env, **env)

    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert loaded["SESSION_COOKIE_SECURE"] is loaded["CSRF_COOKIE_SECURE"] is True


def test_settings_leave_https_off_by_default(monkeypatch, tmp_path, service):
    loaded = load_settings(monkeypatch, tmp_path, service.var_dir_env)

    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None
    assert loaded["SESSION_COOKIE_SECURE"] is False  # local: the admin over plain HTTP


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("DJANGO_SECURE_HSTS_SECONDS", "-1"),
        ("DJANGO_SECURE_SSL_REDIRECT", "maybe"),
    ],
)
def test_settings_refuse_a_malformed_https_setting(monkeypatch, tmp_path, service, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, tmp_path, service.var_dir_env, **{name: value})
