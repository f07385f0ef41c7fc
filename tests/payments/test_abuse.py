"""Bad input and abuse: oversized and deep bodies, odd numbers and characters, wrong content types,
unexpected errors, and settings that must not reach production. Always a JSON answer, never a 500
with details, and no payment row."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from helpers import assert_error, load_settings, raw_body
from rest_framework.test import APIClient

from payments import services
from payments.models import Payment

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024
VALID = {"orderNumber": "abcd1234", "name": "Ada Lovelace", "address": "12 Row", "price": "12.50"}


def padded(payload: dict, size: int) -> str:
    """The payload with an unknown "padding" field that makes it exactly `size` bytes long."""
    base = json.dumps({**payload, "padding": ""})
    return json.dumps({**payload, "padding": "x" * (size - len(base))})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(client, body: str, content_type: str = "application/json", **extra):
    return client.post("/payment", body, content_type=content_type, **extra)


@pytest.fixture(autouse=True)
def no_unexpected_payment(request):
    """A request refused for bad input writes nothing: only tests named so create a payment."""
    yield
    if "creates_a_payment" not in request.node.name:
        assert not Payment.objects.exists()


def test_settings_default_body_limit_is_64_kib(settings):
    assert settings.API_MAX_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == LIMIT


def test_payment_create_api_refuses_a_body_over_the_limit_with_413(auth_client):
    error = assert_error(post(auth_client, padded(VALID, LIMIT + 1)), 413, "request_too_large")

    assert str(LIMIT) in error["message"]


def test_payment_create_api_creates_a_payment_from_a_body_at_the_limit(auth_client):
    body = padded(VALID, LIMIT)
    assert len(body.encode()) == LIMIT

    response = post(auth_client, body)

    assert response.status_code == 201, response.content
    assert "padding" not in response.json()


def test_payment_create_api_reads_the_body_limit_from_settings(auth_client, settings):
    settings.API_MAX_BODY_BYTES = 100

    error = assert_error(post(auth_client, padded(VALID, 101)), 413, "request_too_large")

    assert "100 bytes" in error["message"]


def test_payment_create_api_answers_413_when_django_refuses_to_read_the_body(auth_client, settings):
    # The Content-Length passes the middleware; request.body itself stops at Django's cap, as it
    # does for a body whose Content-Length understated it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50

    assert_error(post(auth_client, padded(VALID, 200)), 413, "request_too_large")


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
    assert client.get("/admin/payments/payment/").status_code == 200


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "٣"], ids=["word", "neg", "frac", "digit"])
def test_payment_create_api_refuses_a_content_length_that_is_not_a_whole_number(
    auth_client, length
):
    response = post(auth_client, json.dumps(VALID), CONTENT_LENGTH=length)

    assert_error(response, 400, "bad_request")


def test_payment_create_api_does_not_read_a_body_without_content_length(auth_client):
    # WSGI hands Django no body without a Content-Length (chunked): it is never read, whatever
    # its size, and the request is answered as empty.
    body = padded(VALID, 10 * LIMIT)

    response = post(auth_client, body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")

    assert_error(response, 400, "invalid", fields=("orderNumber", "name", "address", "price"))


@pytest.mark.parametrize("depth", [33, 900, 5_000, 30_000])
def test_payment_create_api_refuses_nesting_deeper_than_32_levels(auth_client, depth):
    error = assert_error(post(auth_client, nested(depth)), 400, "parse_error")

    assert "32 levels" in error["message"]


def test_payment_create_api_refuses_100_000_nested_lists_under_a_raised_limit(
    auth_client, settings
):
    settings.API_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 300_000

    for body in (nested(100_000), '{"a":' * 40_000 + "1" + "}" * 40_000):
        assert_error(post(auth_client, body), 400, "parse_error")


@pytest.mark.parametrize(("depth", "status"), [(31, 201), (32, 400)])
def test_payment_create_api_creates_a_payment_with_nesting_up_to_32_levels(
    auth_client, depth, status
):
    # The body object is level 1: 31 lists inside it make 32, 32 make 33.
    response = post(auth_client, raw_body(VALID, extra=nested(depth)))

    assert response.status_code == status, response.content
    assert Payment.objects.count() == (status == 201)


@pytest.mark.parametrize(
    ("literal", "stored"),
    [("0.1", "0.10"), ("12345678.91", "12345678.91"), ("9999999999.99", "9999999999.99")],
)
def test_payment_create_api_creates_a_payment_with_the_exact_json_number(
    auth_client, literal, stored
):
    response = post(auth_client, raw_body(VALID, price=literal))

    assert response.status_code == 201, response.content
    assert response.json()["price"] == stored
    assert str(Payment.objects.get().amount) == stored


@pytest.mark.parametrize(
    "literal",
    ["1e400", "-1e400", "1e-400", "1E+999999999999999999", "0.10000000000000000001", "9" * 5000],
    ids=["overflow", "neg-overflow", "underflow", "max-exponent", "float-rounds-it", "5000-digits"],
)
def test_payment_create_api_names_price_for_a_number_out_of_range(auth_client, literal):
    # As floats these were inf, -inf, 0.0 and 0.1; as Decimals they keep their value and the
    # field refuses them by name.
    response = post(auth_client, raw_body(VALID, price=literal))

    errors = assert_error(response, 400, "invalid", fields=("price",))["errors"]
    assert "inf" not in errors["price"][0].lower()


def test_payment_create_api_refuses_an_exponent_decimal_cannot_hold(auth_client):
    response = post(auth_client, raw_body(VALID, price="1e9999999999999999999"))

    assert "out of range" in assert_error(response, 400, "parse_error")["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["price", "name", "extra"])
def test_payment_create_api_refuses_nan_and_infinity_literals(auth_client, field, literal):
    response = post(auth_client, raw_body(VALID, **{field: literal}))

    assert literal.lstrip("-") in assert_error(response, 400, "parse_error")["message"]


def test_payment_create_api_refuses_a_fraction_where_text_is_expected(auth_client):
    # A fraction is a Decimal now, which CharField does not take for text (an integer it does).
    response = post(auth_client, raw_body(VALID, name="1.5"))

    assert_error(response, 400, "invalid", fields=("name",))


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize("field", ["orderNumber", "name", "address", "price"])
def test_payment_create_api_names_a_field_with_nul_or_a_lone_surrogate(auth_client, field, bad):
    body = json.dumps({**VALID, field: bad})  # ASCII escapes, as JSON clients send them

    assert_error(post(auth_client, body), 400, "invalid", fields=(field,))


def test_payment_create_api_creates_a_payment_ignoring_unknown_fields(auth_client, decline_always):
    forged = {"status": "confirmed", "transactionId": "0" * 32, "refundedAt": "2020-01-01T00:00Z"}
    forged |= {"note\x00": "\ud800"}

    response = post(auth_client, json.dumps({**VALID, **forged}))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["refundedAt"]) == ("declined", None)
    assert body["transactionId"] != forged["transactionId"]
    assert Payment.objects.get().status == "declined"


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
def test_payment_create_api_refuses_another_content_type_with_415(auth_client, content_type):
    response = post(auth_client, json.dumps(VALID), content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert content_type.split(";")[0] in error["message"]


@pytest.mark.parametrize("charset", ["bz2_codec", "rot13"])
def test_payment_create_api_refuses_a_charset_that_is_not_a_text_encoding(auth_client, charset):
    response = post(auth_client, json.dumps(VALID), f"application/json; charset={charset}")

    assert_error(response, 400, "parse_error")


def test_payment_create_api_hides_an_unexpected_error_behind_a_json_500(monkeypatch, token):
    def broken(**kwargs):
        raise RuntimeError("password=hunter2 at /srv/payments/services.py")

    monkeypatch.setattr(services, "payment_create", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = post(client, json.dumps(VALID))

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
        ("delete", "/payment", None, None, 405, "method_not_allowed"),
        ("post", "/payment", "{", "application/json", 400, "parse_error"),
        ("post", "/payment", "x", "text/plain", 415, "unsupported_media_type"),
        ("post", "/payment", nested(40), "application/json", 400, "parse_error"),
        ("post", "/payment", "x" * (LIMIT + 1), "application/json", 413, "request_too_large"),
    ],
    ids=["unknown-path", "wrong-method", "malformed", "wrong-type", "too-deep", "too-large"],
)
def test_error_responses_carry_no_debug_text(
    auth_client, settings, method, path, body, content_type, status, code
):
    assert settings.DEBUG is False
    kwargs = {"content_type": content_type} if content_type else {}

    response = getattr(auth_client, method)(path, body, **kwargs)

    assert_error(response, status, code)
    for leak in (b"Traceback", b'File "', b"site-packages", b"<html"):
        assert leak not in response.content


PRODUCTION = {"DJANGO_ENV": "production", "PAYMENTS_SECRET_KEY": "s", "PAYMENTS_API_TOKEN": "t"}


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
