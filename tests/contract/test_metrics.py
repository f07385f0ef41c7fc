"""GET /metrics as a scraper calls it: prometheus_client's view, routed like any other, with an
optional bearer token (METRICS_BEARER_TOKEN) and the pod's IP as an allowed host."""

import pytest
from common.errors import load_settings

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-1"


def test_metrics_refuses_other_methods_with_a_json_error(api_client):
    response = api_client.post("/metrics/", {}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_metrics_are_open_without_a_token_configured(api_client, settings):
    settings.METRICS_BEARER_TOKEN = ""

    assert api_client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
def test_metrics_with_a_token_configured_refuse_a_scrape_without_it(
    api_client, settings, authorization
):
    settings.METRICS_BEARER_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = api_client.get("/metrics", **headers)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"
    assert b"http_requests_total" not in response.content


def test_metrics_with_a_token_configured_answer_a_scrape_with_it(api_client, settings):
    settings.METRICS_BEARER_TOKEN = TOKEN

    response = api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert b"http_requests_total" in response.content


def test_metrics_answer_a_scrape_by_the_pods_ip_once_it_is_allowed(api_client, settings):
    # Prometheus sends the pod's IP as the Host; Kubernetes gives it to the pod as POD_IP.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "10.1.2.3"]

    assert api_client.get("/metrics", HTTP_HOST="10.1.2.3:3001").status_code == 200
    assert api_client.get("/metrics", HTTP_HOST="10.9.9.9:3001").status_code == 400


def test_settings_allow_the_pods_ip_and_read_the_metrics_token(monkeypatch, tmp_path, service):
    env = {"POD_IP": "10.1.2.3", "METRICS_BEARER_TOKEN": TOKEN}
    loaded = load_settings(monkeypatch, tmp_path, service.var_dir_env, **env)

    assert "10.1.2.3" in loaded["ALLOWED_HOSTS"]
    assert loaded["METRICS_BEARER_TOKEN"] == TOKEN


def test_settings_leave_the_metrics_open_by_default(monkeypatch, tmp_path, service):
    monkeypatch.delenv("METRICS_BEARER_TOKEN", raising=False)

    assert load_settings(monkeypatch, tmp_path, service.var_dir_env)["METRICS_BEARER_TOKEN"] == ""
