"""Every model change has its migration. The check that refuses a database part-way through a
squashed migration whose replaced files are gone (servicekit/squashed_migrations.py), on the
service's own squash and the rows Django's migration recorder keeps in the test database: migrated
with the squash, every migration it replaces is recorded; a test deletes the rows an older database
would not have."""

import io
from importlib import import_module

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from servicekit.squashed_migrations import partly_applied_squashes

pytestmark = pytest.mark.django_db


def the_squash(app_label: str) -> tuple[str, list[str]]:
    """The app's one squashed migration and the names of those it replaces, from its files."""
    disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    [(name, replaces)] = [
        (name, migration.replaces)
        for (label, name), migration in disk.items()
        if label == app_label and migration.replaces
    ]
    return name, [replaced for _, replaced in replaces]


def after_the_squash(app_label: str) -> set[str]:
    """The app's migrations written since the squash (on disk, neither it nor one it replaced)."""
    squash, replaced = the_squash(app_label)
    disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    return {name for label, name in disk if label == app_label} - {squash, *replaced}


def forget(app_label: str, names: list[str]) -> None:
    """As a database that never applied these: their recorder rows deleted."""
    MigrationRecorder.Migration.objects.filter(app=app_label, name__in=names).delete()


def recorded(app_label: str) -> set[str]:
    return {
        name
        for label, name in MigrationRecorder(connection).applied_migrations()
        if label == app_label
    }


def test_squash_check_passes_the_database_migrated_with_the_squash(service):
    squash, replaced = the_squash(service.name)
    assert recorded(service.name) == {squash, *replaced, *after_the_squash(service.name)}

    assert partly_applied_squashes(connection, app_label=service.name) == []
    call_command("check", databases=["default"])  # raises SystemCheckError on an error


def test_squash_check_passes_a_database_migrated_with_the_replaced_migrations(service):
    squash, replaced = the_squash(service.name)
    forget(service.name, [squash])  # the old tree recorded each of them, not the squash

    assert partly_applied_squashes(connection, app_label=service.name) == []
    call_command("migrate", verbosity=0, skip_checks=False)

    # Nothing to apply; Django records the squash as applied, its replaced set being complete.
    assert recorded(service.name) == {squash, *replaced, *after_the_squash(service.name)}


def test_squash_check_passes_a_database_with_none_of_them(service):
    squash, replaced = the_squash(service.name)
    forget(service.name, [squash, *replaced])

    assert partly_applied_squashes(connection, app_label=service.name) == []
    call_command("check", databases=["default"])


def test_migrate_refuses_a_database_part_way_through_the_replaced_migrations(service):
    squash, replaced = the_squash(service.name)
    # Only the first one applied (and none written since the squash).
    forget(service.name, [squash, *replaced[1:], *after_the_squash(service.name)])

    assert partly_applied_squashes(connection, app_label=service.name) == [(squash, replaced[:1])]
    with pytest.raises(SystemCheckError) as refused:
        call_command("migrate", verbosity=0, skip_checks=False)

    message = str(refused.value)
    release = import_module(f"{service.name}.apps").SQUASH_RELEASE
    assert "servicekit.E001" in message
    assert f"{service.name}.{squash} replaces ({replaced[0]})" in message
    assert f"Upgrade to {release} and migrate first" in message
    assert recorded(service.name) == {replaced[0]}  # and migrated nothing


def test_plain_check_reads_no_database(service):
    squash, replaced = the_squash(service.name)
    forget(service.name, [squash, *replaced[1:]])

    call_command("check")  # the database checks run only when a database is named


def test_migrations_match_the_models():
    out = io.StringIO()

    # Exits with status 1 when a model change has no migration yet.
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)

    assert "No changes detected" in out.getvalue()
