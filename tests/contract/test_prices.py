"""The price field does what the schema says, generated from the schema itself (Hypothesis): every
string its pattern allows is taken at its value, every other string is refused, and a JSON number
is taken exactly when it is a whole number of cents from 0 to 9999999999.99 (multipleOf 0.01).
The oracle for strings is the committed schema, checked by jsonschema_rs (ECMA-262 regex rules,
as clients and schemathesis read it), not Python's re."""

import functools
from decimal import Decimal

import jsonschema_rs
import yaml
from common.fuzz import FUZZ, UNICODE_DIGITS
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from servicekit.fields import PriceField

MAX = Decimal("9999999999.99")


@functools.cache
def price_schema(schema_file) -> dict:
    """The create body's price, as the committed schema documents it."""
    schemas = yaml.safe_load(schema_file.read_text())["components"]["schemas"]
    prices = [
        s["properties"]["price"] for s in schemas.values() if "price" in s.get("properties", {})
    ]
    return next(p for p in prices if "oneOf" in p)


def string_pattern(schema: dict) -> str:
    return next(branch["pattern"] for branch in schema["oneOf"] if branch["type"] == "string")


def field() -> PriceField:
    return PriceField(max_digits=12, decimal_places=2, min_value=0)


def accepts(value) -> Decimal | None:
    serializer_field = field()
    try:
        return serializer_field.run_validation(value)
    except ValidationError:
        return None


@FUZZ
@given(data=st.data())
def test_price_takes_every_string_the_schema_pattern_allows(service, data):
    schema = price_schema(service.schema_file)
    text = data.draw(st.from_regex(string_pattern(schema), fullmatch=True))
    value = accepts(text)

    in_range = Decimal(text) <= MAX
    assert (value is not None) == in_range, text
    if in_range:
        assert value == Decimal(text) and value.as_tuple().exponent == -2


near_prices = st.text(st.sampled_from(f"0123456789.+-_eE \t\n{UNICODE_DIGITS}"), max_size=14)


@FUZZ
@given(text=near_prices | st.text(max_size=8))
def test_price_takes_a_string_exactly_when_the_schema_allows_it(service, text):
    schema = price_schema(service.schema_file)
    allowed = jsonschema_rs.is_valid(schema, text)

    assert (accepts(text) is not None) == allowed, text


@FUZZ
@given(number=st.decimals(-1, 10**11, allow_nan=False, allow_infinity=False, places=None))
def test_price_takes_a_number_exactly_when_it_is_whole_cents_in_range(number):
    # What the JSON parser hands the field for a number (servicekit/parsers.py): its exact value.
    whole_cents = number == number.quantize(Decimal("0.01")) if abs(number) < 10**12 else False
    value = accepts(number)

    assert (value is not None) == (whole_cents and 0 <= number <= MAX), number
    if value is not None:
        assert value == number and value.as_tuple().exponent == -2 and not value.is_signed()


def test_price_takes_negative_zero_as_zero():
    for number in (0, Decimal("-0"), Decimal("-0.0"), Decimal("-0.00"), Decimal("-0E+3")):
        assert str(accepts(number)) == "0.00"
    assert accepts("-0") is None  # as a string, the schema's pattern has no sign
