"""The OpenAPI schema: what only Orders' schema says (the shared checks:
tests/contract/test_openapi.py)."""

from pathlib import Path

import jsonschema_rs
import pytest
import yaml

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "orders.yaml"


def test_openapi_schema_documents_every_error_in_the_error_shape():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    create = schema["paths"]["/order"]["post"]
    error = {"$ref": "#/components/schemas/Error"}

    assert {"201", "400", "409", "413", "415", "429"} <= set(create["responses"])
    for status, response in create["responses"].items():
        # A $ref: the HTTP server's own answers and the admission gate's 503
        # (tests/contract/test_openapi.py checks them).
        if "$ref" in response:
            assert status in {"431", "503"}, status
        elif status.startswith("4"):
            assert response["content"]["application/json"]["schema"] == error
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "errors", "message"]
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]


# --- what the fuzzing against the schema found: the API now does what the schema says ----------

VALID = {"name": "Ada", "address": "1 Loop Road", "price": "12.50"}


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["name", "address"])
@pytest.mark.parametrize("value", [0, 12, 1.5])
def test_order_create_api_refuses_a_number_as_text(api_client, field, value):
    response = api_client.post("/order", {**VALID, field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["state=", "state=shipped"])
def test_order_list_api_refuses_an_empty_or_malformed_filter(api_client, query):
    response = api_client.get(f"/order?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [query.split("=")[0]]


PYTHON_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


@pytest.mark.parametrize("blank", ["\x1c \t\n\x0b", "\x85", "\u3000 ", PYTHON_SPACES])
def test_openapi_text_pattern_rejects_what_the_server_trims_to_blank(api_client, blank):
    """The schema's validators read "\\s" as Unicode White_Space, which lacks \\x1c-\\x1f and
    \\x85 that Python strips: the pattern spells the set out, so both refuse the same text."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    address = schema["components"]["schemas"]["OrderCreate"]["properties"]["address"]
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": address["pattern"]})

    response = api_client.post(
        "/order", {"name": "Ada", "address": blank, "price": "1.00"}, format="json"
    )

    assert not validator.is_valid(blank)
    assert validator.is_valid(f"{blank}x{blank}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["address"]


def test_openapi_schema_lists_the_enabled_payment_methods_as_an_enum(settings):
    # A client (or schemathesis) that follows the schema never sends a method that is refused.
    schema = yaml.safe_load(SCHEMA_FILE.read_text())

    assert schema["components"]["schemas"]["PaymentMethodEnum"]["enum"] == list(
        settings.ORDERS_PAYMENT_METHODS
    )
