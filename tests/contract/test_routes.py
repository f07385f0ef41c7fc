"""Every route of the service's URL conf, read from Django's resolver (not a hand list), walked
with hostile path segments and query values: the API answers a 4xx in the JSON error shape, the
admin and /docs (HTML pages by design) never a 5xx. Run on PostgreSQL too: a NUL that reaches a
query there is a psycopg DataError, a 500, where SQLite finds nothing."""

import base64
import re

import pytest
from common.errors import assert_error_shape
from django.urls import URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Digits Python's \d, int() and Decimal() take, which the schema's [0-9] does not.
ARABIC_INDIC_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"  # 12345678
FULL_WIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"

HOSTILE_SEGMENTS = [
    "\x00",
    "%2500",  # a literal "%00"
    "abcd\x00123",
    ARABIC_INDIC_DIGITS,
    FULL_WIDTH_DIGITS,
    "ABCD1234",
    "abcd12345",
    "a" * 10_000,
    "..",
    "%2e%2e",
    "abcd 123",
    " abcd123",
    "abcd123\n",
    "é" * 8,
    "\u202eabcd123",
]

HOSTILE_QUERY_VALUES = [
    "\x00",
    "",
    " ",
    "abc",
    "1.5",
    "1e5",
    "-1",
    "0",
    ARABIC_INDIC_DIGITS[:2],
    FULL_WIDTH_DIGITS[:2],
    "1_000",
    "..",
    "9" * 5000,
    "a" * 10_000,
]


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Cursors that decode but were never handed out: positions that are not a key, a key past
# bigint, a leading zero, an offset or direction DRF would rewrite.
HOSTILE_CURSORS = [
    _cursor(f"p={position}")
    for position in ["abc", "", "1.5", "1e5", "\x00", "-1", "01", ARABIC_INDIC_DIGITS[0], "9" * 20]
] + [_cursor("o=99999&p=1"), _cursor("r=2&p=1"), _cursor("x=1"), "cD0x\x00", "not-a-cursor"]

# The query parameters any route of either service reads (the lists', the schema's).
QUERY_NAMES = ["cursor", "pageSize", "state", "format", "q"]

_PARAMETER = re.compile(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)")


def routes() -> list[str]:
    """Every route of the URL conf as a template, its parameters written {} (an include's
    prefix joined), the regex anchors and optional slashes of re_path routes dropped."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    templates = set()
    for route in walk(get_resolver().url_patterns, ""):
        template = _PARAMETER.sub("{}", route)
        template = re.sub(r"\^|\$|\\Z|/\?(?=\$|\\Z|\^|$)", "", template)
        template = "/" + template.replace("\\", "")
        assert not set(template) & set("()?*+[]|^$"), f"a route this walk cannot fill: {route}"
        templates.add(template)
    return sorted(templates)


def _api(template: str) -> bool:
    """The routes that answer JSON; the admin and /docs (Swagger UI) are pages for a browser."""
    return not template.startswith(("/admin/", "/docs"))


def _assert_json_4xx(response, url: str) -> None:
    assert 400 <= response.status_code < 500, (url[:120], response.status_code)
    assert response["Content-Type"].startswith("application/json"), url[:120]
    assert_error_shape(response.json())


def test_routes_walk_finds_every_api_route(service):
    # The walk reads the resolver: it must see what the schema documents, and the admin.
    templates = routes()
    for path in service.api_paths:
        assert re.sub(r"\{\w+\}", "{}", path) in templates
    assert any(template.startswith("/admin/") for template in templates)


@pytest.mark.usefixtures("fast_password_hashing")  # admin_client: one user per test
@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS, ids=lambda s: repr(s[:12]))
def test_routes_answer_a_hostile_path_segment_with_a_json_4xx(write_client, admin_client, segment):
    for template in routes():
        if "{}" not in template:
            continue
        url = template.replace("{}", segment)
        if not _api(template):
            assert admin_client.get(url).status_code < 500, url[:120]
            continue
        for method in ("get", "post", "put"):
            response = getattr(write_client, method)(url)
            _assert_json_4xx(response, f"{method} {url}")
            # No route matched (the converter), so no view ran: not the view's order_not_found.
            assert response.json()["code"] == "not_found", (method, url[:120])


@pytest.mark.usefixtures("fast_password_hashing")
@pytest.mark.parametrize("value", HOSTILE_QUERY_VALUES, ids=repr)
def test_routes_answer_a_hostile_query_value_without_a_5xx(write_client, admin_client, value):
    """A route that reads the parameter refuses the value with a JSON 4xx; one that does not
    read it answers as without it (the admin too, logged in), never a 5xx. Every name at once:
    the lists' test below sends each alone."""
    for template in routes():
        url = template.replace("{}", "abcd1234")
        client = write_client if _api(template) else admin_client
        response = client.get(url, dict.fromkeys(QUERY_NAMES, value))
        assert response.status_code < 500, (url, value[:20], response.status_code)
        if response.status_code >= 400 and _api(template):
            _assert_json_4xx(response, f"{url}?...={value[:20]}")


@pytest.mark.parametrize("value", HOSTILE_QUERY_VALUES + HOSTILE_CURSORS, ids=repr)
def test_routes_list_refuses_a_hostile_query_value_with_a_json_4xx(write_client, service, value):
    # The lists read cursor and pageSize (and Orders' state): a hostile value is refused.
    path, _ = service.list_route
    for name in ("cursor", "pageSize"):
        response = write_client.get(path, {name: value})
        if name == "cursor" and value == "":
            assert response.status_code == 200  # an empty cursor is the first page, as in DRF
            continue
        if name == "pageSize" and value.isascii() and value.isdigit() and value.strip("0"):
            assert response.status_code == 200  # a whole number from 1; a larger one is capped
            continue
        _assert_json_4xx(response, f"{path}?{name}={value[:20]}")
