"""The API's JSON parser: exact decimals, no NaN or Infinity, bounded nesting."""

import json
import sys
from decimal import Decimal, DecimalException

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No body this API takes nests more than one level; 32 leaves room and keeps a hostile document
# cheap (Python's own parser would give up with a RecursionError near 1000 levels).
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep."


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _parse_int(text: str) -> int | Decimal:
    # int() refuses more digits than this (CVE-2020-10735); as a Decimal the number reaches the
    # field, whose error then names it.
    limit = sys.get_int_max_str_digits()
    return Decimal(text) if limit and len(text) >= limit else int(text)


def _nested_deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


class ApiJSONParser(JSONParser):
    """DRF's JSONParser, but numbers with a fraction or exponent become Decimal (0.1 stays 0.1,
    1e400 stays finite), NaN and Infinity are refused, and so is nesting over MAX_JSON_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            # bytes.decode refuses bytes-to-bytes codecs (charset=bz2_codec) with a LookupError.
            data = json.loads(
                stream.read().decode(encoding),
                parse_float=Decimal,
                parse_int=_parse_int,
                parse_constant=_refuse_constant,
            )
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        except (ValueError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except DecimalException:
            raise ParseError("JSON parse error - a number is out of range.") from None
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
