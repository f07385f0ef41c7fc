"""Bad input and abuse: oversized and deep bodies, odd numbers and characters, wrong content types,
unexpected errors, and settings that must not reach production. Always a JSON answer, never a 500
with details, and no order written."""

import json
import re
import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from helpers import ORDER_NUMBER_PATTERN, assert_error
from rest_framework.test import APIClient

import config.settings
from orders import services
from orders.models import Order

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024
VALID = {"name": "Ada Lovelace", "address": "12 Analytical Row", "price": "12.50"}


def raw_body(payload: dict, **raw_fields: str) -> str:
    """The payload as JSON text, with each of raw_fields written as the literal text given."""
    body = json.dumps({**payload, **dict.fromkeys(raw_fields, "__RAW__")})
    for name, text in raw_fields.items():
        body = body.replace(f'"{name}": "__RAW__"', f'"{name}": {text}', 1)
    return body


def padded(payload: dict, size: int) -> str:
    """The payload with an unknown "padding" field that makes it exactly `size` bytes long."""
    base = json.dumps({**payload, "padding": ""})
    return json.dumps({**payload, "padding": "x" * (size - len(base))})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(client, body: str, content_type: str = "application/json", **extra):
    return client.post("/order", body, content_type=content_type, **extra)


@pytest.fixture(autouse=True)
def no_unexpected_order(request):
    """A request refused for bad input writes nothing: only tests named so create an order."""
    yield
    if "creates_an_order" not in request.node.name:
        assert not Order.objects.exists()


def test_settings_default_body_limit_is_64_kib(settings):
    assert settings.API_MAX_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == LIMIT


def test_order_create_api_refuses_a_body_over_the_limit_with_413(api_client):
    error = assert_error(post(api_client, padded(VALID, LIMIT + 1)), 413, "request_too_large")

    assert str(LIMIT) in error["message"]


def test_order_create_api_creates_an_order_from_a_body_at_the_limit(api_client):
    body = padded(VALID, LIMIT)
    assert len(body.encode()) == LIMIT

    response = post(api_client, body)

    assert response.status_code == 201, response.content
    assert "padding" not in response.json()


def test_order_create_api_reads_the_body_limit_from_settings(api_client, settings):
    settings.API_MAX_BODY_BYTES = 100

    error = assert_error(post(api_client, padded(VALID, 101)), 413, "request_too_large")

    assert "100 bytes" in error["message"]


def test_order_create_api_answers_413_when_django_refuses_to_read_the_body(api_client, settings):
    # The Content-Length passes the middleware; request.body itself stops at Django's cap, as it
    # does for a body whose Content-Length understated it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50

    assert_error(post(api_client, padded(VALID, 200)), 413, "request_too_large")


@pytest.mark.parametrize(("cap", "password"), [(50, "x" * 100), (LIMIT, "x" * LIMIT)])
def test_admin_login_answers_413_json_to_a_form_over_the_limit(settings, cap, password):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = (
        cap  # 50: read by Django's form parsing, not the middleware
    )

    response = Client().post("/admin/login/", {"username": "admin", "password": password})

    assert_error(response, 413, "request_too_large")


def test_admin_login_still_works_under_the_limit(admin_user):
    client = Client()

    response = client.post("/admin/login/", {"username": "admin", "password": "password"})

    assert response.status_code == 302, response.content
    assert client.get("/admin/orders/order/").status_code == 200


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "٣"], ids=["word", "neg", "frac", "digit"])
def test_order_create_api_refuses_a_content_length_that_is_not_a_whole_number(api_client, length):
    response = post(api_client, json.dumps(VALID), CONTENT_LENGTH=length)

    assert_error(response, 400, "bad_request")


def test_order_create_api_does_not_read_a_body_without_content_length(api_client):
    # WSGI hands Django no body without a Content-Length (chunked): it is never read, whatever
    # its size, and the request is answered as empty.
    body = padded(VALID, 10 * LIMIT)

    response = post(api_client, body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")

    assert_error(response, 400, "invalid", fields=("name", "address", "price"))


@pytest.mark.parametrize("depth", [33, 900, 5_000, 30_000])
def test_order_create_api_refuses_nesting_deeper_than_32_levels(api_client, depth):
    error = assert_error(post(api_client, nested(depth)), 400, "parse_error")

    assert "32 levels" in error["message"]


def test_order_create_api_refuses_100_000_nested_lists_under_a_raised_limit(api_client, settings):
    settings.API_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 300_000

    for body in (nested(100_000), '{"a":' * 40_000 + "1" + "}" * 40_000):
        assert_error(post(api_client, body), 400, "parse_error")


@pytest.mark.parametrize(("depth", "status"), [(31, 201), (32, 400)])
def test_order_create_api_creates_an_order_with_nesting_up_to_32_levels(api_client, depth, status):
    # The body object is level 1: 31 lists inside it make 32, 32 make 33.
    response = post(api_client, raw_body(VALID, extra=nested(depth)))

    assert response.status_code == status, response.content
    assert Order.objects.count() == (status == 201)


@pytest.mark.parametrize(
    ("literal", "stored"),
    [("0.1", "0.10"), ("12345678.91", "12345678.91"), ("9999999999.99", "9999999999.99")],
)
def test_order_create_api_creates_an_order_with_the_exact_json_number(api_client, literal, stored):
    response = post(api_client, raw_body(VALID, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == stored
    assert str(Order.objects.get().price) == stored


@pytest.mark.parametrize("literal", ['"-0"', '"-0.00"', "-0", "-0.0", "-0e5"])
def test_order_create_api_creates_an_order_with_negative_zero_as_zero(api_client, literal):
    # Found by the fuzz test: "-0" passes min_value=0 and was echoed and stored as "-0.00".
    response = post(api_client, raw_body(VALID, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == "0.00"
    assert str(Order.objects.get().price) == "0.00"


@pytest.mark.parametrize(
    "literal",
    ["1e400", "-1e400", "1e-400", "1E+999999999999999999", "0.10000000000000000001", "9" * 5000],
    ids=["overflow", "neg-overflow", "underflow", "max-exponent", "float-rounds-it", "5000-digits"],
)
def test_order_create_api_names_price_for_a_number_out_of_range(api_client, literal):
    # As floats these were inf, -inf, 0.0 and 0.1; as Decimals they keep their value and the
    # field refuses them by name.
    response = post(api_client, raw_body(VALID, price=literal))

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "inf" not in errors["price"][0].lower()


def test_order_create_api_refuses_an_exponent_decimal_cannot_hold(api_client):
    response = post(api_client, raw_body(VALID, price="1e9999999999999999999"))

    assert "out of range" in assert_error(response, 400, "parse_error")["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["price", "name", "extra"])
def test_order_create_api_refuses_nan_and_infinity_literals(api_client, field, literal):
    response = post(api_client, raw_body(VALID, **{field: literal}))

    assert literal.lstrip("-") in assert_error(response, 400, "parse_error")["message"]


def test_order_create_api_refuses_a_fraction_where_text_is_expected(api_client):
    # A fraction is a Decimal now; the text fields (servicekit/fields.py TextField) take a JSON
    # string only, so a number, integer or fraction, is refused.
    response = post(api_client, raw_body(VALID, name="1.5"))

    assert_error(response, 400, "invalid", fields=("name",))


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize("field", ["name", "address", "price"])
def test_order_create_api_names_a_field_with_nul_or_a_lone_surrogate(api_client, field, bad):
    body = json.dumps({**VALID, field: bad})  # ASCII escapes, as JSON clients send them

    assert_error(post(api_client, body), 400, "invalid", fields=(field,))


def test_order_create_api_creates_an_order_ignoring_unknown_fields(api_client):
    forged = {"state": "delivered", "orderNumber": "aaaaaaaa", "history": [], "note\x00": "\ud800"}

    response = post(api_client, json.dumps({**VALID, **forged}))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "created"
    assert body["orderNumber"] != "aaaaaaaa"
    assert re.fullmatch(ORDER_NUMBER_PATTERN, body["orderNumber"])
    assert "history" not in body
    assert Order.objects.get().state == "created"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json-patch+json",
    ],
)
def test_order_create_api_refuses_another_content_type_with_415(api_client, content_type):
    response = post(api_client, json.dumps(VALID), content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert content_type.split(";")[0] in error["message"]


@pytest.mark.parametrize("charset", ["bz2_codec", "rot13"])
def test_order_create_api_refuses_a_charset_that_is_not_a_text_encoding(api_client, charset):
    response = post(api_client, json.dumps(VALID), f"application/json; charset={charset}")

    assert_error(response, 400, "parse_error")


def test_order_create_api_hides_an_unexpected_error_behind_a_json_500(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("password=hunter2 at /srv/orders/services.py")

    monkeypatch.setattr(services, "order_create", broken)

    response = post(APIClient(raise_request_exception=False), json.dumps(VALID))

    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "Internal server error.",
        "errors": {},
    }
    for leak in (b"hunter2", b"Traceback", b"services.py", b"RuntimeError"):
        assert leak not in response.content


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("get", "/no/such/path", None, None, 404, "not_found"),
        ("delete", "/order", None, None, 405, "method_not_allowed"),
        ("post", "/order", "{", "application/json", 400, "parse_error"),
        ("post", "/order", "x", "text/plain", 415, "unsupported_media_type"),
        ("post", "/order", nested(40), "application/json", 400, "parse_error"),
        ("post", "/order", "x" * (LIMIT + 1), "application/json", 413, "request_too_large"),
    ],
    ids=["unknown-path", "wrong-method", "malformed", "wrong-type", "too-deep", "too-large"],
)
def test_error_responses_carry_no_debug_text(
    api_client, settings, method, path, body, content_type, status, code
):
    assert settings.DEBUG is False
    kwargs = {"content_type": content_type} if content_type else {}

    response = getattr(api_client, method)(path, body, **kwargs)

    assert_error(response, status, code)
    for leak in (b"Traceback", b'File "', b"site-packages", b"<html"):
        assert leak not in response.content


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    """Run the settings module afresh under `env`, leaving the loaded settings alone."""
    monkeypatch.setenv("ORDERS_VAR_DIR", str(tmp_path))
    for name in ("DJANGO_ENV", "DJANGO_DEBUG", "API_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(config.settings.__file__)


PRODUCTION = {"DJANGO_ENV": "production", "ORDERS_SECRET_KEY": "s", "PAYMENTS_API_TOKEN": "t"}


def test_settings_refuse_debug_outside_a_local_run(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        load_settings(monkeypatch, tmp_path, **PRODUCTION, DJANGO_DEBUG="1")


@pytest.mark.parametrize(
    ("env", "debug"), [({"DJANGO_DEBUG": "1"}, True), ({}, False), (PRODUCTION, False)]
)
def test_settings_allow_debug_only_in_a_local_run(monkeypatch, tmp_path, env, debug):
    assert load_settings(monkeypatch, tmp_path, **env)["DEBUG"] is debug


def test_settings_read_the_body_limit_from_the_environment(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path, API_MAX_BODY_BYTES="1024")

    assert loaded["API_MAX_BODY_BYTES"] == loaded["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1024


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_settings_refuse_a_body_limit_that_is_not_a_positive_integer(monkeypatch, tmp_path, value):
    with pytest.raises(ImproperlyConfigured, match="API_MAX_BODY_BYTES"):
        load_settings(monkeypatch, tmp_path, API_MAX_BODY_BYTES=value)
