import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_migrations_match_the_models():
    out = io.StringIO()

    # Exits with status 1 when a model change has no migration yet.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()
