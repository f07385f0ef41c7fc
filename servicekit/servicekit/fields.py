"""Serializer fields of the request bodies, strict about JSON types and described exactly in
the OpenAPI schema."""

import re
from decimal import Decimal

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# An order number as Orders issues it, the one format both services accept: in paths (the
# URL converter), in bodies and in the schema.
ORDER_NUMBER_PATTERN = "[a-z0-9]{8}"

# What str.strip() removes, which DRF trims. Spelled out because "\s" differs between regex
# engines: Python's counts \x1c-\x1f and \x85 as space, Unicode's White_Space (the schema's
# validators) does not, and the schema must refuse exactly what the server refuses.
PYTHON_WHITESPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)

# A text field once trimmed: not blank, no NUL (PostgreSQL cannot store it). CharField refuses
# both already; as a pattern, the schema says so too.
VISIBLE_TEXT = RegexValidator(
    rf"^[^\x00]*[^\x00{PYTHON_WHITESPACE}][^\x00]*$",
    "Use at least one visible character and no NUL.",
)


class TextField(serializers.CharField):
    """A CharField that takes a JSON string only: DRF's also turns 12 or 1.5 into "12", "1.5".
    Its length is checked before the trim too: the schema's maxLength counts what the client
    sent, and " " + 500 characters must be refused by both, not trimmed to 500 and taken."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


# A price as a string: ASCII digits only. "\d" is not used: Python's matches Arabic-Indic and
# full-width digits, which Decimal() takes too ("١٢" is 12). No sign, no space, no "1_000": the
# server checks the schema's own pattern, so the two agree by construction. Leading zeros are
# not digits that count (DecimalField's max_digits does not count them).
PRICE_PATTERN = r"^0*[0-9]{1,10}(\.[0-9]{1,2})?$"
_PRICE_STRING = re.compile(PRICE_PATTERN)
_CENT = Decimal("0.01")
_MAX_PRICE = Decimal("9999999999.99")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": 9999999999.99, "multipleOf": 0.01},
            {"type": "string", "pattern": PRICE_PATTERN},
        ],
        "description": "At least 0, at most two decimals: a JSON number (taken at its exact value) "
        "or a string of ASCII digits, with no sign, space or separator.",
        "example": "12.50",
    }
)
class PriceField(serializers.DecimalField):
    """A request's price: a string of ASCII digits as PRICE_PATTERN says, or a JSON number read
    exactly (servicekit/parsers.py) and taken at its value, as the schema's multipleOf 0.01
    does: 1.000 and 1e2 are 1.00 and 100.00, 1.001 is refused. -0 is 0.00, not "-0.00".
    Declare it with max_digits=12, decimal_places=2, min_value=0, which the schema describes."""

    default_error_messages = {
        "format": "Use a JSON number or a string of ASCII digits, at least 0 with at most 2 "
        "decimal places (12.50): no sign, spaces or separators."
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not _PRICE_STRING.fullmatch(data):
                self.fail("format")
        elif isinstance(data, (int, Decimal)) and not isinstance(data, bool):
            data = _whole_cents(data)
        value = super().to_internal_value(data)
        return abs(value) if value.is_zero() else value


def _whole_cents(number: int | Decimal) -> int | Decimal:
    """The number with two decimal places if it is a whole number of cents in range; else as it
    came, for DecimalField to refuse with its own message (too many digits or decimals)."""
    if isinstance(number, Decimal) and number.is_finite() and number.copy_abs() <= _MAX_PRICE:
        cents = number.quantize(_CENT)
        return cents if cents == number else number
    return number


class PaymentMethodField(serializers.ChoiceField):
    """A payment method's name, one of those this deployment enables. The schema lists them as
    an enum, so a client or a fuzzer that follows it never sends a name that is refused; the
    check reads them again at each call, as a serializer built once may outlive a settings change
    (a test's override)."""

    def __init__(self, *, enabled, **kwargs):
        self._enabled = enabled  # a callable returning the enabled names
        super().__init__(choices=[], **kwargs)

    def bind(self, field_name, parent):
        super().bind(field_name, parent)
        self.choices = list(self._enabled())  # the schema's enum

    def to_internal_value(self, data):
        names = list(self._enabled())
        if isinstance(data, str) and data in names:
            return data
        raise serializers.ValidationError(
            f"Unknown or disabled payment method {data!r}; enabled: {', '.join(names)}.",
            code="invalid_choice",
        )
