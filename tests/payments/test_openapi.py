"""The OpenAPI schema: what only Payments' schema says (the shared checks:
tests/contract/test_openapi.py)."""

from pathlib import Path

import pytest
import yaml

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "payments.yaml"


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
    # 431: the HTTP server's own answer (tests/contract/test_openapi.py).
    assert {"200", "400", "401", "413", "415", "431", "503"} == set(batch["responses"])


# --- what the fuzzing against the schema found: the API now does what the schema says ----------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["orderNumber", "name", "address"])
@pytest.mark.parametrize("value", [0, 12345678, 1.5])
def test_payment_post_refuses_a_number_as_text(auth_client, payload, field, value):
    response = auth_client.post("/payment", {**payload, field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_openapi_schema_lists_the_enabled_payment_methods_as_an_enum():
    # A client (or schemathesis) that follows the schema never sends a method that is refused.
    from payments.providers import registry

    schema = yaml.safe_load(SCHEMA_FILE.read_text())

    assert schema["components"]["schemas"]["PaymentMethodEnum"]["enum"] == registry().names()
