"""One GET /metrics, parsed with prometheus_client's own parser, and the `scrape` fixture that
takes one (a plugin of both suites, see their conftest.py); counters keep what earlier tests
added, so an assertion compares two."""

import pytest
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """Call it with a sample's name and labels for its value (0 if absent)."""

    def __init__(self, client):
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        self.families = {f.name: f for f in text_string_to_metric_families(response.text)}
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families.values()
            for sample in family.samples
        }

    def __call__(self, name: str, **labels) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def change_since(self, before: "Scrape", name: str, **labels) -> float:
        """How much the sample moved between the scrape `before` and this one."""
        return self(name, **labels) - before(name, **labels)


@pytest.fixture
def scrape(api_client):
    """GET /metrics now, parsed."""
    return lambda: Scrape(api_client)
