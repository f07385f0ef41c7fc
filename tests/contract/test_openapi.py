"""The OpenAPI schema: GET /schema serves what docs/openapi/<service>.yaml holds (`make openapi`
regenerates it), it is valid and generated without a warning, and /docs shows it in Swagger UI
from the service's own static files; the list's pageSize and the health routes do what it says."""

import json

import pytest
import yaml
from django.core.management import call_command


def committed(service) -> dict:
    return yaml.safe_load(service.schema_file.read_text())


def test_openapi_schema_served_is_the_committed_file(client, service):
    response = client.get("/schema")

    assert response.status_code == 200
    assert yaml.safe_load(response.content) == committed(service), (
        f"docs/openapi/{service.name}.yaml differs from the served schema: run `make openapi`"
    )


def test_openapi_schema_is_json_when_asked(client, service):
    by_query = client.get("/schema?format=json")
    by_accept = client.get("/schema/", HTTP_ACCEPT="application/json")

    assert by_query.status_code == by_accept.status_code == 200
    assert json.loads(by_query.content) == committed(service)
    assert json.loads(by_accept.content) == json.loads(by_query.content)


def test_openapi_schema_validates_without_warnings(tmp_path):
    # Raises on any warning (an undescribed field, a guessed type) or an invalid schema.
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file))

    assert yaml.safe_load(schema_file.read_text())["openapi"].startswith("3.")


def test_openapi_schema_paths_are_canonical(service):
    paths = {*service.api_paths, "/health/live", "/health/ready"}

    assert set(committed(service)["paths"]) == paths


def test_openapi_schema_documents_the_http_servers_own_answers_on_every_operation(service):
    # granian answers a malformed request, more than 100 headers or a head over 48 KiB itself,
    # with an empty body it has no option to change (servicekit/webserver.py): documented so.
    schema = committed(service)
    for name in ("ServerBadRequest", "ServerHeaderTooLarge"):
        assert "content" not in schema["components"]["responses"][name]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "431"} <= set(responses), (path, method)
            assert "414" not in responses, (path, method)
            for status, name in (("400", "ServerBadRequest"), ("431", "ServerHeaderTooLarge")):
                response = responses[status]
                assert "$ref" in response or name in response["description"], (path, method)


def test_openapi_schema_documents_the_admission_gates_503_on_every_operation(service):
    # A request that finds every working slot taken past WEB_QUEUE_TIMEOUT_MS is answered 503
    # `overloaded` in the error shape, with Retry-After, whatever the route
    # (servicekit/admission.py).
    schema = committed(service)
    overloaded = schema["components"]["responses"]["Overloaded"]
    assert overloaded["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "Retry-After" in overloaded["headers"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            response = operation["responses"]["503"]
            assert "$ref" in response or "Overloaded" in response["description"], (path, method)


def test_openapi_docs_serve_swagger_ui_without_a_cdn(client):
    response = client.get("/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page and "//cdn" not in page


# --- what the fuzzing against the schema found: the API now does what the schema says ----------


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["", "0", "-1", "abc", "1.5"])
def test_list_api_refuses_a_page_size_that_is_not_a_whole_number(read_client, service, size):
    response = read_client.get(service.list_route[0], {"pageSize": size})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["pageSize"]


@pytest.mark.django_db
def test_list_api_caps_a_large_page_size(read_client, service, make_one):
    make_one()

    response = read_client.get(service.list_route[0], {"pageSize": "9" * 5000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_refuses_a_method_other_than_get(api_client, path):
    response = api_client.post(path)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
