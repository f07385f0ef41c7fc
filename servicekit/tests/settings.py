"""The smallest Django project the chassis' own tests need: no service in it. The database is
SERVICEKIT_DATABASE_URL (a postgres:// URL runs the PostgreSQL engine's tests), else SQLite."""

from pathlib import Path

from servicekit.env import env_database

SECRET_KEY = "servicekit-tests-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {
    "default": env_database(
        "SERVICEKIT_DATABASE_URL",
        sqlite_path=Path(__file__).resolve().parent.parent / "var" / "servicekit.sqlite3",
    )
}
API_PATHS = ["/thing", "/health", "/schema"]
USE_TZ = True
