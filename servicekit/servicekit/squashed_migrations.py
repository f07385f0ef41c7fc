"""The safety net for a squashed migration whose replaced files are gone from the tree.

Django applies a squash only to a database that has none or all of the migrations it replaces;
one part-way through them needs the rest, and without their files Django drops the squash from
its plan and says there is nothing to apply, leaving the schema half-way. So `migrate` (which
runs the checks tagged `database`) stops on such a database with the way out instead."""

from django.core import checks
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder


def partly_applied_squashes(connection, *, app_label: str) -> list[tuple[str, list[str]]]:
    """(squash, the replaced migrations recorded) for each squashed migration of the app of
    which this database has recorded some, not all, of the migrations it replaces, where some
    of the others are no longer on disk (with all of them there, Django finishes them)."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():  # a new database: the squashes will be applied whole
        return []
    applied = recorder.applied_migrations()
    found = []
    disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    for (label, name), migration in sorted(disk.items()):
        if label != app_label or not migration.replaces:
            continue
        done = [replaced for replaced in migration.replaces if replaced in applied]
        gone = [replaced for replaced in migration.replaces if replaced not in disk]
        if done and len(done) < len(migration.replaces) and gone:
            found.append((name, [replaced_name for _, replaced_name in done]))
    return found


def register_squash_check(*, app_label: str, upgrade_through: str) -> None:
    """Register, with the `database` tag, the check that refuses a database part-way through
    a squashed migration of the app. `upgrade_through` names the release (or commit) that
    still has the replaced migrations beside the squash: migrating there first finishes them."""

    def squashes_applied_whole(app_configs=None, databases=None, **kwargs):
        errors = []
        for alias in databases or ():  # None: a plain `check` run, which reads no database
            for squash, done in partly_applied_squashes(connections[alias], app_label=app_label):
                errors.append(
                    checks.Error(
                        f"Database {alias!r} has applied only some of the migrations that "
                        f"{app_label}.{squash} replaces ({', '.join(done)}), and the files of "
                        "the others are no longer in this release.",
                        hint=(
                            f"Upgrade to {upgrade_through} and migrate first: it still has "
                            "them. Then migrate with this release."
                        ),
                        id="servicekit.E001",
                    )
                )
        return errors

    checks.register(squashes_applied_whole, checks.Tags.database)
