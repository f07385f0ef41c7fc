"""The OpenAPI schema: GET /schema serves what docs/openapi/payments.yaml holds (`make openapi`
regenerates it), it is valid and generated without a warning, and /docs shows it in Swagger UI
from the service's own static files."""

import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "payments.yaml"
PATHS = {
    "/payment",
    "/payment/batch",
    "/payment/methods",
    "/payment/{orderNumber}/refund",
    "/health/live",
    "/health/ready",
}


def test_openapi_schema_served_is_the_committed_file(client):
    response = client.get("/schema")

    assert response.status_code == 200
    assert yaml.safe_load(response.content) == yaml.safe_load(SCHEMA_FILE.read_text()), (
        "docs/openapi/payments.yaml differs from the served schema: run `make openapi`"
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
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "payments.yaml")
    )

    assert yaml.safe_load((tmp_path / "payments.yaml").read_text())["openapi"].startswith("3.")


def test_openapi_schema_paths_are_canonical():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())

    assert set(schema["paths"]) == PATHS


def test_openapi_schema_asks_a_bearer_token_for_payments_read_or_written():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    payment = schema["paths"]["/payment"]
    refund = schema["paths"]["/payment/{orderNumber}/refund"]["post"]

    assert schema["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"
    token = [{"serviceToken": []}]
    assert payment["post"]["security"] == payment["get"]["security"] == refund["security"] == token
    assert all("401" in operation["responses"] for operation in (payment["post"], payment["get"]))
    assert "401" in refund["responses"]
    # The one read without a token: the enabled methods, which name no customer.
    assert "security" not in schema["paths"]["/payment/methods"]["get"]
    assert {"400", "409", "413", "415"} <= set(payment["post"]["responses"])
    batch = schema["paths"]["/payment/batch"]["post"]
    assert batch["security"] == [{"serviceToken": []}]
    assert {"200", "400", "401", "413", "415"} == set(batch["responses"])


def test_openapi_docs_serve_swagger_ui_without_a_cdn(client):
    response = client.get("/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page and "//cdn" not in page


# --- what the fuzzing against the schema found: the API now does what the schema says ----------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["orderNumber", "name", "address"])
@pytest.mark.parametrize("value", [0, 12345678, 1.5])
def test_payment_post_refuses_a_number_as_text(auth_client, payload, field, value):
    response = auth_client.post("/payment", {**payload, field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["", "0", "-1", "abc", "1.5"])
def test_payment_list_refuses_a_page_size_that_is_not_a_whole_number(auth_client, size):
    response = auth_client.get("/payment", {"pageSize": size})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["pageSize"]


@pytest.mark.django_db
def test_payment_list_caps_a_large_page_size(auth_client, make_payment):
    make_payment()

    response = auth_client.get("/payment", {"pageSize": "9" * 5000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_refuses_a_method_other_than_get(api_client, path):
    response = api_client.post(path)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_schema_lists_the_enabled_payment_methods_as_an_enum():
    # A client (or schemathesis) that follows the schema never sends a method that is refused.
    from payments.providers import registry

    schema = yaml.safe_load(SCHEMA_FILE.read_text())

    assert schema["components"]["schemas"]["PaymentMethodEnum"]["enum"] == registry().names()
