"""The OpenAPI schema (drf-spectacular): the path hook and the error responses every operation
shares. GET /schema serves it, /docs shows it in Swagger UI; docs/openapi/ holds it as committed.
"""

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

_GROUP = re.compile(r"\(\?P<(\w+)>")
_VARIABLE = re.compile(r"\{(\w+)\}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def canonical_paths(endpoints):
    """PREPROCESSING_HOOKS: every route answers with and without a trailing slash, either as
    `re_path(r"^health/live/?$")` (rendered "/health/live/") or as the two routes of
    servicekit.urls.api_path. Document the canonical form once, "/order/{orderNumber}": no
    trailing slash, path parameters in camelCase like the bodies. The group in the regex is
    renamed too, so that the parameter's type is still read from it."""
    canonical = {}
    for path, path_regex, method, callback in endpoints:
        path = _VARIABLE.sub(lambda m: "{" + _camel(m[1]) + "}", path.rstrip("/") or "/")
        path_regex = _GROUP.sub(lambda m: f"(?P<{_camel(m[1])}>", path_regex)
        canonical.setdefault((path, method), (path, path_regex, method, callback))
    return list(canonical.values())


class ErrorSerializer(serializers.Serializer):
    """Every error: servicekit.errors renders this shape, whatever the status."""

    code = serializers.CharField(help_text="Stable, machine-readable: `invalid`, `not_found`, …")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The messages of each invalid field or header, by name; empty otherwise.",
    )

    class Meta:
        ref_name = "Error"


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# The answers of any operation that reads a JSON body.
BODY_ERRORS = {
    400: error(
        "`invalid`: a field is missing or wrong, named in `errors`. `parse_error`: malformed "
        "JSON, NaN or Infinity, nesting deeper than 32 levels. `bad_request`: a malformed "
        "Content-Length."
    ),
    413: error("`request_too_large`: the body is over API_MAX_BODY_BYTES; refused unread."),
    415: error("`unsupported_media_type`: the body is not `application/json`."),
}


# A segment that is not 8 lowercase letters or digits matches no route (servicekit.urls'
# converter): a 404 `not_found`, like an order number the service never issued.
ORDER_NUMBER = OpenApiParameter(
    "orderNumber",
    {"type": "string", "pattern": "^[a-z0-9]{8}$", "example": "wj63kdrh"},
    OpenApiParameter.PATH,
    description="The 8-character order number that POST /order answered with.",
)
