"""Hypothesis strategies both services' fuzz tests draw from: any JSON value, numbers json.dumps
cannot spell, every character, prices valid and not; and the JSON text they are sent as."""

import json
import re
from decimal import Decimal

import hypothesis
from hypothesis import strategies as st

from common.errors import assert_error_shape

# Bounded; no example database written into the working tree; clients built inside the tests.
FUZZ = hypothesis.settings(max_examples=150, deadline=None, database=None)


class Raw(str):
    """JSON text written into the body as it is: numbers json.dumps cannot spell (1e400, -0)."""


def to_json(value) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        items = (f"{json.dumps(key)}: {to_json(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(to_json, value)) + "]"
    return json.dumps(value)  # a float NaN or inf becomes the NaN/Infinity literal


def as_sent(value):
    """The value the server reads: a Raw fragment is JSON text."""
    return json.loads(value, parse_float=Decimal) if isinstance(value, Raw) else value


def as_parsed(price):
    """A price as the parser hands it to the serializer: a Raw number is a Decimal."""
    return Decimal(price) if isinstance(price, Raw) else price


# Every character, NUL and lone surrogates included; lengths around the 200/500 limits too.
any_char = st.characters(exclude_categories=())
texts = st.one_of(
    st.text(any_char, max_size=20),
    st.text(max_size=20),
    st.builds(lambda char, size: char * size, any_char, st.integers(190, 510)),
)
ODD_NUMBERS = [
    *("1e400", "-1e400", "1e-400", "1e9999999999999999999", "0.10000000000000000001", "9" * 5000),
    *("-0", "-0.0", "0.1", "1E+2", "1" + "0" * 4400, "NaN", "Infinity", "-Infinity"),
]
odd_numbers = st.sampled_from(ODD_NUMBERS).map(Raw)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: Raw(str(d))),
    texts,
    odd_numbers,
)
json_values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    ),
    (st.integers(1, 60) | st.sampled_from([2_000, 30_000])).map(lambda n: Raw("[" * n + "]" * n)),
)


def number_or_string(decimals):
    return st.tuples(decimals, st.booleans()).map(lambda t: Raw(str(t[0])) if t[1] else str(t[0]))


CENT = Decimal("0.01")
# Digits Decimal() takes that the schema's [0-9] does not: Arabic-Indic, full-width.
UNICODE_DIGITS = "\u0661\u0662\uff11\uff12"

valid_prices = st.one_of(
    number_or_string(st.decimals(0, Decimal("9999999999.99"), places=2)),
    st.integers(0, 9_999_999_999),
    # A JSON number is taken at its value (multipleOf 0.01): 1.000 and 1.0E+2 are whole cents.
    st.decimals(0, 10**6, places=2).map(lambda d: Raw(f"{d}000")),
    st.decimals(0, 10**6, places=2).map(lambda d: Raw(f"{d * 100}E-2")),
)
invalid_prices = st.one_of(
    number_or_string(st.decimals(Decimal("-1e12"), Decimal("-0.01"), places=2)),
    number_or_string(st.decimals(0, 10**6, places=3).filter(lambda d: d != d.quantize(CENT))),
    # As strings only the schema's pattern: no space, sign, separator, exponent or other digits.
    st.decimals(0, 1000, places=1).map(lambda d: f" {d} "),
    st.sampled_from(["+1", ".5", "1.", "1_000", "1e2", "-0", "1.000", "12\n", *UNICODE_DIGITS]),
    number_or_string(st.decimals(Decimal("1e10"), Decimal("1e30"), places=0)),
    st.integers(min_value=10**10),
    st.sampled_from(["1e400", "-1e400", "1e-400", "9" * 5000, "0.10000000000000000001"]).map(Raw),
    st.sampled_from(["", "NaN", "Infinity", "-Infinity", "inf", "sNaN", "1,5", "0x10"]),
    st.from_regex(r"\A[A-Za-z]+\Z"),
    st.none(),
    st.booleans(),
    st.lists(scalars, max_size=3),
    st.dictionaries(texts, scalars, max_size=3),
)
good_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


def mostly(draw, good, anything):
    """Mostly a well-formed value, so that enough requests get as far as a 201."""
    return draw(anything) if draw(st.integers(0, 7)) == 7 else draw(good)


python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: d.scaleb(400))
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def input_data(**more_fields) -> st.SearchStrategy:
    """What a parser could hand an input serializer: any of its fields, any Python value."""
    fields = {
        "name": good_names | texts | python_values,
        "address": good_names | texts | python_values,
        "price": valid_prices.map(as_parsed) | python_values,
    }
    return st.fixed_dictionaries({}, optional=more_fields | fields) | python_values


def assert_validated_or_refused(serializer, fields: tuple[str, ...]) -> None:
    """Valid: every field, and a finite price of 2 decimals and at most 12 digits. Refused: a
    list of messages per field. Never an exception."""
    if serializer.is_valid():
        assert set(serializer.validated_data) == set(fields)
        price = serializer.validated_data["price"]
        assert isinstance(price, Decimal)
        assert price.is_finite()
        assert price >= 0
        assert price.as_tuple().exponent == -2
        assert len(price.as_tuple().digits) <= 12
    else:
        assert serializer.errors
        assert all(isinstance(messages, list) for messages in serializer.errors.values())


@st.composite
def judged_prices(draw) -> tuple[object, bool]:
    """A price as the parser hands it to an input serializer, and whether it is valid."""
    valid = draw(st.booleans())
    return as_parsed(draw(valid_prices if valid else invalid_prices)), valid


def assert_price_named_exactly_when_invalid(serializer_class, body: dict, valid: bool) -> None:
    serializer = serializer_class(data=body)

    assert serializer.is_valid() is valid, serializer.errors
    if valid:
        assert serializer.validated_data["price"] == Decimal(str(body["price"]).strip())
    else:
        assert set(serializer.errors) == {"price"}


@st.composite
def create_requests(draw, fields: tuple[str, ...], **more_fields) -> tuple[object, str]:
    """A body and what its price is: "valid", "invalid" (refused by name) or "any" (unknown).
    more_fields: name -> (well-formed values, any values), ahead of name, address and price."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values), "any"  # not even an object, most of the time
    tag = draw(st.sampled_from(["valid", "valid", "invalid", "any"]))
    price = draw({"valid": valid_prices, "invalid": invalid_prices, "any": json_values}[tag])
    body = {name: mostly(draw, good, anything) for name, (good, anything) in more_fields.items()}
    body |= {
        "name": mostly(draw, good_names, texts | json_values),
        "address": mostly(draw, good_names, texts | json_values),
        "price": price,
    }
    if draw(st.booleans()):
        body[draw(texts)] = draw(json_values)  # an unknown field, ignored, or one of the above
    dropped = draw(st.sampled_from([None, None, None, *fields]))
    body.pop(dropped, None)
    if "price" not in body:
        tag = "invalid"  # named as required
    elif body["price"] is not price:
        tag = "any"  # the unknown field was "price" after all
    return body, tag


def assert_text_kept_as_sent(body: dict, sent: dict) -> None:
    """An accepted name and address come back as the server read them, trimmed, with no NUL."""
    for field in ("name", "address"):
        assert body[field] == str(as_sent(sent[field])).strip()
        assert "\x00" not in body[field]


def accepted_body(response, sent, tag: str, accepted=(201,)) -> dict | None:
    """The answer to a fuzzed create: a 4xx in the one error shape (price named exactly when it
    was invalid), then None; or an accepted one with the exact price, then its body."""
    status = response.status_code
    hypothesis.event(f"{status} {tag}")  # the spread shows with --hypothesis-show-statistics
    assert status in accepted or 400 <= status < 500, (status, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if status >= 400:
        assert_error_shape(body)
        if body["code"] == "invalid" and tag != "any":
            assert ("price" in body["errors"]) == (tag == "invalid"), body
        return None
    assert tag != "invalid", body
    assert re.fullmatch(r"\d+\.\d{2}", body["price"]), body["price"]
    assert Decimal(body["price"]) == Decimal(str(sent["price"]).strip())
    return body
