import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_health_live_answers_200(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_health_ready_answers_200_when_the_database_answers(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True}}


def test_migrations_match_the_models():
    out = io.StringIO()

    # Exits with status 1 when a model change has no migration yet.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()
