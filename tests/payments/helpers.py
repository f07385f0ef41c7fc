"""Helpers shared by the Payments test modules (fixtures live in conftest.py)."""


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """The one error shape: {"code", "message", "errors": {field: [message, ...]}}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], dict)
    for field, messages in body["errors"].items():
        assert isinstance(messages, list), field
        assert messages, field
        assert all(isinstance(message, str) for message in messages), field
    assert set(body["errors"]) == set(fields)
    return body
