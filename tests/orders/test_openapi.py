"""The OpenAPI schema: GET /schema serves what docs/openapi/orders.yaml holds (`make openapi`
regenerates it), it is valid and generated without a warning, and /docs shows it in Swagger UI
from the service's own static files."""

import json
from pathlib import Path

import jsonschema_rs
import pytest
import yaml
from django.core.management import call_command

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "orders.yaml"
PATHS = {
    "/order",
    "/order/{orderNumber}",
    "/order/status/{orderNumber}",
    "/order/cancel/{orderNumber}",
    "/health/live",
    "/health/ready",
}


def test_openapi_schema_served_is_the_committed_file(client):
    response = client.get("/schema")

    assert response.status_code == 200
    assert yaml.safe_load(response.content) == yaml.safe_load(SCHEMA_FILE.read_text()), (
        "docs/openapi/orders.yaml differs from the served schema: run `make openapi`"
    )


def test_openapi_schema_is_json_when_asked(client):
    by_query = client.get("/schema?format=json")
    by_accept = client.get("/schema/", HTTP_ACCEPT="application/json")

    assert by_query.status_code == by_accept.status_code == 200
    assert json.loads(by_query.content) == yaml.safe_load(SCHEMA_FILE.read_text())
    assert json.loads(by_accept.content) == json.loads(by_query.content)


def test_openapi_schema_validates_without_warnings(tmp_path):
    # Raises on any warning (an undescribed field, a guessed type) or an invalid schema.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "orders.yaml")
    )

    assert yaml.safe_load((tmp_path / "orders.yaml").read_text())["openapi"].startswith("3.")


def test_openapi_schema_paths_are_canonical():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())

    assert set(schema["paths"]) == PATHS


def test_openapi_schema_documents_every_error_in_the_error_shape():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    create = schema["paths"]["/order"]["post"]
    error = {"$ref": "#/components/schemas/Error"}

    assert {"201", "400", "409", "413", "415"} <= set(create["responses"])
    for status, response in create["responses"].items():
        if status.startswith("4"):
            assert response["content"]["application/json"]["schema"] == error
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "errors", "message"]
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]


def test_openapi_docs_serve_swagger_ui_without_a_cdn(client):
    response = client.get("/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page and "//cdn" not in page


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
@pytest.mark.parametrize("query", ["state=", "state=shipped", "pageSize=", "pageSize=0"])
def test_order_list_api_refuses_an_empty_or_malformed_filter(api_client, query):
    response = api_client.get(f"/order?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [query.split("=")[0]]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["pageSize=-1", "pageSize=abc", "pageSize=1.5"])
def test_order_list_api_refuses_a_page_size_that_is_not_a_whole_number(api_client, query):
    assert api_client.get(f"/order?{query}").status_code == 400


@pytest.mark.django_db
def test_order_list_api_caps_a_large_page_size(api_client, make_order):
    make_order()

    response = api_client.get("/order", {"pageSize": "9" * 5000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_refuses_a_method_other_than_get(api_client, path):
    response = api_client.post(path)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


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
