"""The OpenAPI schema (drf-spectacular): the path hook and the error responses every operation
shares. GET /schema serves it, /docs shows it in Swagger UI; docs/openapi/ holds it as committed.
"""

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from servicekit.fields import ORDER_NUMBER_PATTERN

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
    {"type": "string", "pattern": f"^{ORDER_NUMBER_PATTERN}$", "example": "wj63kdrh"},
    OpenApiParameter.PATH,
    description="The 8-character order number that POST /order answered with.",
)


# What the HTTP server (granian, servicekit/webserver.py) answers itself, before the service reads
# the request, with an empty body: it has no option for a body of these answers, and they are
# documented as they are instead.
SERVER_ANSWERS = {
    "400": "Refused by the HTTP server (granian) before the service reads it: a malformed "
    "request line or header (a control character, say), a bad or doubled Content-Length. "
    "An empty body, not the JSON error shape.",
    "431": "Refused by the HTTP server (granian): more than 100 headers, or a request line and "
    "headers over 48 KiB together. An empty body, not the JSON error shape.",
}
_SERVER_NAMES = {"400": "ServerBadRequest", "431": "ServerHeaderTooLarge"}


# What the admission gate (servicekit/admission.py) answers for any operation when every working
# slot stayed taken: the JSON error shape, with Retry-After.
OVERLOADED = {
    "description": "`overloaded`: the service is busy and did nothing with the request; retry "
    "after the seconds Retry-After gives (WEB_QUEUE_TIMEOUT_MS).",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def server_answers(result, generator, request, public):
    """POSTPROCESSING_HOOKS: every operation documents SERVER_ANSWERS (components/responses),
    beside the JSON error shape of a 400 the API answers too, and the admission gate's 503."""
    components = result.setdefault("components", {}).setdefault("responses", {})
    for status, description in SERVER_ANSWERS.items():
        components[_SERVER_NAMES[status]] = {"description": description}
    components["Overloaded"] = OVERLOADED
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, name in _SERVER_NAMES.items():
                if status in responses:
                    responses[status]["description"] += f" Or an empty body: see {name}."
                else:
                    responses[status] = {"$ref": f"#/components/responses/{name}"}
            if "503" in responses:
                responses["503"]["description"] += " Or `overloaded`: see Overloaded."
            else:
                responses["503"] = {"$ref": "#/components/responses/Overloaded"}
    return result
