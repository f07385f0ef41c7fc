"""Every timestamp a service answers is RFC 3339 in UTC with six fraction digits, also when the
microseconds are 0 (DRF's default drops the fraction then, and two widths sort wrong as text)."""

import datetime
import re

from django.apps import apps
from django.db.models import DateTimeField

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
WHOLE_SECOND = datetime.datetime(2026, 12, 3, 6, 8, 3, tzinfo=datetime.UTC)


def set_every_timestamp_to_a_whole_second(app_label: str) -> None:
    """Every DateTimeField of every row of the app that holds a time to WHOLE_SECOND (microsecond
    0); a NULL stays NULL (a constraint may tie it to a state)."""
    for model in apps.get_app_config(app_label).get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, DateTimeField):
                rows = model.objects.filter(**{f"{field.name}__isnull": False})
                rows.update(**{field.name: WHOLE_SECOND})


def timestamps(body, path="") -> dict[str, str]:
    """Every value of the answer under a key named like a timestamp (`…At`, `at`, `…UpTo`), by
    its path."""
    found = {}
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, (dict, list)):
                found |= timestamps(value, f"{path}.{key}")
            elif key == "at" or key.endswith(("At", "UpTo")):
                found[f"{path}.{key}"] = value
    elif isinstance(body, list):
        for index, item in enumerate(body):
            found |= timestamps(item, f"{path}[{index}]")
    return found


def schema_timestamp_names(schema: dict) -> set[str]:
    """The names of the properties the schema documents as date-time."""
    return {
        name
        for component in schema["components"]["schemas"].values()
        for name, prop in component.get("properties", {}).items()
        if prop.get("format") == "date-time"
    }


def assert_fixed_width(found: dict[str, str]) -> None:
    assert found
    for path, value in found.items():
        assert TIMESTAMP.match(value), (path, value)
        assert value.startswith("2026-12-03T06:08:03.000000"), (path, value)
