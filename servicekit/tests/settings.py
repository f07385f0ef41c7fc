"""The smallest Django project the chassis' own tests need: no service in it. The database is
SERVICEKIT_DATABASE_URL (a postgres:// URL also runs the test of a connection the server
closed), else SQLite."""

from pathlib import Path

from servicekit.env import env_database

SECRET_KEY = "servicekit-tests-only"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servicekit",
]
DATABASES = {
    "default": env_database(
        "SERVICEKIT_DATABASE_URL",
        sqlite_path=Path(__file__).resolve().parent.parent / "var" / "servicekit.sqlite3",
    )
}
USE_TZ = True
