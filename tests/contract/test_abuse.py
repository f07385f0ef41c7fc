"""Bad input and abuse of a service's create route: oversized and deep bodies, odd numbers and
characters, wrong content types, unexpected errors, and settings that must not reach production.
Always a JSON answer, never a 500 with details, and no row written. A test that creates a row
says so in its name ("creates_one")."""

import json

import pytest
from common.errors import assert_error, load_settings, nested, padded, post, raw_body
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.test import Client

from servicekit.middleware import BodySizeLimitMiddleware

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024


@pytest.fixture(autouse=True)
def no_unexpected_row(request, service):
    """A request refused for bad input writes nothing: only tests named so create a row."""
    yield
    if "creates_one" not in request.node.name:
        assert not service.model.objects.exists()


def test_settings_default_body_limit_is_64_kib(settings):
    assert settings.API_MAX_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == LIMIT


def test_create_api_refuses_a_body_over_the_limit_with_413(write_client, service):
    body = padded(service.valid_body, LIMIT + 1)

    error = assert_error(post(write_client, service, body), 413, "request_too_large")

    assert str(LIMIT) in error["message"]


def test_create_api_creates_one_from_a_body_at_the_limit(write_client, service):
    body = padded(service.valid_body, LIMIT)
    assert len(body.encode()) == LIMIT

    response = post(write_client, service, body)

    assert response.status_code == 201, response.content
    assert "padding" not in response.json()


def test_create_api_reads_the_body_limit_from_settings(write_client, service, settings):
    settings.API_MAX_BODY_BYTES = 100
    body = padded(service.valid_body, 101)

    error = assert_error(post(write_client, service, body), 413, "request_too_large")

    assert "100 bytes" in error["message"]


def test_create_api_answers_413_when_django_refuses_to_read_the_body(
    write_client, service, settings
):
    # The Content-Length passes the middleware; request.body itself stops at Django's cap, as it
    # does for a body whose Content-Length understated it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50

    response = post(write_client, service, padded(service.valid_body, 200))

    assert_error(response, 413, "request_too_large")


@pytest.mark.parametrize(("cap", "password"), [(50, "x" * 100), (LIMIT, "x" * LIMIT)])
def test_admin_login_answers_413_json_to_a_form_over_the_limit(settings, cap, password):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = cap  # 50: read by Django's form parsing, not ours

    response = Client().post("/admin/login/", {"username": "admin", "password": password})

    assert_error(response, 413, "request_too_large")


@pytest.mark.usefixtures("fast_password_hashing")
def test_admin_login_still_works_under_the_limit(admin_user, service):
    client = Client()

    response = client.post("/admin/login/", {"username": "admin", "password": "password"})

    assert response.status_code == 302, response.content
    assert client.get(service.admin_list_path).status_code == 200


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "٣"], ids=["word", "neg", "frac", "digit"])
def test_create_api_refuses_a_content_length_that_is_not_a_whole_number(
    write_client, service, length
):
    response = post(write_client, service, json.dumps(service.valid_body), CONTENT_LENGTH=length)

    assert_error(response, 400, "bad_request")


def test_create_api_does_not_read_a_body_without_content_length(write_client, service):
    # WSGI hands Django no body without a Content-Length (chunked): it is never read, whatever
    # its size, and the request is answered as empty.
    body = padded(service.valid_body, 10 * LIMIT)

    response = post(
        write_client, service, body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked"
    )

    assert_error(response, 400, "invalid", fields=service.required_fields)


@pytest.mark.parametrize("depth", [33, 900, 5_000, 30_000])
def test_create_api_refuses_nesting_deeper_than_32_levels(write_client, service, depth):
    error = assert_error(post(write_client, service, nested(depth)), 400, "parse_error")

    assert "32 levels" in error["message"]


def test_create_api_refuses_100_000_nested_lists_under_a_raised_limit(
    write_client, service, settings
):
    settings.API_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 300_000

    for body in (nested(100_000), '{"a":' * 40_000 + "1" + "}" * 40_000):
        assert_error(post(write_client, service, body), 400, "parse_error")


@pytest.mark.parametrize(("depth", "status"), [(31, 201), (32, 400)])
def test_create_api_creates_one_with_nesting_up_to_32_levels(write_client, service, depth, status):
    # The body object is level 1: 31 lists inside it make 32, 32 make 33.
    response = post(write_client, service, raw_body(service.valid_body, extra=nested(depth)))

    assert response.status_code == status, response.content
    assert service.model.objects.count() == (status == 201)


@pytest.mark.parametrize(
    ("literal", "stored"),
    [
        *[("0.1", "0.10"), ("12345678.91", "12345678.91"), ("9999999999.99", "9999999999.99")],
        # At its exact value, as the schema's multipleOf 0.01: extra zeros or an exponent.
        *[("1.000", "1.00"), ("1E+2", "100.00"), ("1250E-2", "12.50")],
    ],
)
def test_create_api_creates_one_with_the_exact_json_number(write_client, service, literal, stored):
    response = post(write_client, service, raw_body(service.valid_body, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == stored
    assert str(getattr(service.model.objects.get(), service.price_attribute)) == stored


@pytest.mark.parametrize(
    "literal",
    ["1e400", "-1e400", "1e-400", "1E+999999999999999999", "0.10000000000000000001", "9" * 5000],
    ids=["overflow", "neg-overflow", "underflow", "max-exponent", "float-rounds-it", "5000-digits"],
)
def test_create_api_names_price_for_a_number_out_of_range(write_client, service, literal):
    # As floats these were inf, -inf, 0.0 and 0.1; as Decimals they keep their value and the
    # field refuses them by name.
    response = post(write_client, service, raw_body(service.valid_body, price=literal))

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "inf" not in errors["price"][0].lower()


def test_create_api_refuses_an_exponent_decimal_cannot_hold(write_client, service):
    body = raw_body(service.valid_body, price="1e9999999999999999999")

    assert (
        "out of range"
        in assert_error(post(write_client, service, body), 400, "parse_error")["message"]
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["price", "name", "extra"])
def test_create_api_refuses_nan_and_infinity_literals(write_client, service, field, literal):
    response = post(write_client, service, raw_body(service.valid_body, **{field: literal}))

    assert literal.lstrip("-") in assert_error(response, 400, "parse_error")["message"]


def test_create_api_refuses_a_fraction_where_text_is_expected(write_client, service):
    # A fraction is a Decimal now; the text fields (servicekit/fields.py TextField) take a JSON
    # string only, so a number, integer or fraction, is refused.
    response = post(write_client, service, raw_body(service.valid_body, name="1.5"))

    assert_error(response, 400, "invalid", fields=("name",))


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"], ids=["nul", "high", "low"])
def test_create_api_names_a_field_with_nul_or_a_lone_surrogate(write_client, service, bad):
    for field in service.required_fields:
        body = json.dumps({**service.valid_body, field: bad})  # ASCII escapes, as clients send

        assert_error(post(write_client, service, body), 400, "invalid", fields=(field,))


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
def test_create_api_refuses_another_content_type_with_415(write_client, service, content_type):
    body = json.dumps(service.valid_body)

    response = post(write_client, service, body, content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert content_type.split(";")[0] in error["message"]


@pytest.mark.parametrize("charset", ["bz2_codec", "rot13"])
def test_create_api_refuses_a_charset_that_is_not_a_text_encoding(write_client, service, charset):
    body = json.dumps(service.valid_body)

    response = post(write_client, service, body, f"application/json; charset={charset}")

    assert_error(response, 400, "parse_error")


def test_create_api_hides_an_unexpected_error_behind_a_json_500(write_client, service, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError(f"password=hunter2 at /srv/{service.name}/services.py")

    monkeypatch.setattr(service.create_service, broken)
    write_client.raise_request_exception = False

    response = post(write_client, service, json.dumps(service.valid_body))

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
        ("delete", "create", None, None, 405, "method_not_allowed"),
        ("post", "create", "{", "application/json", 400, "parse_error"),
        ("post", "create", "x", "text/plain", 415, "unsupported_media_type"),
        ("post", "create", nested(40), "application/json", 400, "parse_error"),
        ("post", "create", "x" * (LIMIT + 1), "application/json", 413, "request_too_large"),
    ],
    ids=["unknown-path", "wrong-method", "malformed", "wrong-type", "too-deep", "too-large"],
)
def test_error_responses_carry_no_debug_text(
    write_client, service, settings, method, path, body, content_type, status, code
):
    assert settings.DEBUG is False
    kwargs = {"content_type": content_type} if content_type else {}
    path = service.create_path if path == "create" else path

    response = getattr(write_client, method)(path, body, **kwargs)

    assert_error(response, status, code)
    for leak in (b"Traceback", b'File "', b"site-packages", b"<html"):
        assert leak not in response.content


def test_settings_refuse_debug_outside_a_local_run(monkeypatch, tmp_path, service):
    env = {**service.production_env, "DJANGO_DEBUG": "1"}
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        load_settings(monkeypatch, tmp_path, service.var_dir_env, **env)


@pytest.mark.parametrize(
    ("env", "debug"), [({"DJANGO_DEBUG": "1"}, True), ({}, False), (None, False)]
)
def test_settings_allow_debug_only_in_a_local_run(monkeypatch, tmp_path, service, env, debug):
    env = service.production_env if env is None else env  # None: production

    assert load_settings(monkeypatch, tmp_path, service.var_dir_env, **env)["DEBUG"] is debug


def test_settings_read_the_body_limit_from_the_environment(monkeypatch, tmp_path, service):
    loaded = load_settings(monkeypatch, tmp_path, service.var_dir_env, API_MAX_BODY_BYTES="1024")

    assert loaded["API_MAX_BODY_BYTES"] == loaded["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1024


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_settings_refuse_a_body_limit_that_is_not_a_positive_integer(
    monkeypatch, tmp_path, service, value
):
    with pytest.raises(ImproperlyConfigured, match="API_MAX_BODY_BYTES"):
        load_settings(monkeypatch, tmp_path, service.var_dir_env, API_MAX_BODY_BYTES=value)


def test_a_database_gone_before_the_view_ran_is_a_json_503(client, monkeypatch):
    # A middleware's query (the admin's session, say) fails: Django answers with handler500.
    def refused(self, request):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BodySizeLimitMiddleware, "__call__", refused)
    client.raise_request_exception = False

    response = client.get("/health/live")

    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"
