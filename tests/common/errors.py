"""The one error shape, and request bodies written as raw JSON text and posted to a service's
create route."""

import json
import os
import runpy

import config.settings


def post(client, service, body: str, content_type: str = "application/json", **extra):
    """POST raw body text to the service's create route."""
    return client.post(service.create_path, body, content_type=content_type, **extra)


def assert_error_shape(body: dict) -> None:
    """The one error shape: {"code", "message", "errors": {field: [message, ...]}}."""
    assert set(body) == {"code", "message", "errors"}, body
    assert isinstance(body["code"], str), body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert isinstance(body["errors"], dict), body
    for field, messages in body["errors"].items():
        assert isinstance(messages, list), field
        assert messages, field
        assert all(isinstance(message, str) for message in messages), field


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """A JSON error answer in the one shape, with this status, code and these field errors."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == code
    assert set(body["errors"]) == set(fields)
    return body


def raw_body(payload: dict, **raw_fields: str) -> str:
    """The payload as JSON text, with each of raw_fields written as the literal text given."""
    body = json.dumps({**payload, **dict.fromkeys(raw_fields, "__RAW__")})
    for name, text in raw_fields.items():
        body = body.replace(f'"{name}": "__RAW__"', f'"{name}": {text}', 1)
    return body


def padded(payload: dict, size: int) -> str:
    """The payload with an unknown "padding" field that makes it exactly `size` bytes long."""
    base = json.dumps({**payload, "padding": ""})
    return json.dumps({**payload, "padding": "x" * (size - len(base))})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def load_settings(monkeypatch, tmp_path, var_dir_env: str, **env: str) -> dict:
    """Run the service's settings module afresh under `env`, leaving the loaded settings alone."""
    monkeypatch.setenv(var_dir_env, str(tmp_path))
    for name in ("DJANGO_ENV", "DJANGO_DEBUG", "API_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("DJANGO_SECURE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(config.settings.__file__)
