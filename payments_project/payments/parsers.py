"""The JSON parser of a view with its own, larger body limit (POST /payment/batch).

DRF parses the body of a JSONParser from request.body, and Django refuses request.body over
DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB: API_MAX_BODY_BYTES) with RequestDataTooBig. Raising that
setting would raise it for every route and for the admin's forms. A parser that is not a
JSONParser is handed the request's stream instead: this one reads it up to the view's
max_body_bytes(), one byte more to tell a body over it, and parses the bytes with the API's own
ApiJSONParser, so the body is read exactly as on every other route.
"""

import io

from rest_framework.parsers import BaseParser

from servicekit.errors import RequestTooLarge, too_large_message
from servicekit.parsers import ApiJSONParser


class LargeBodyJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = parser_context["view"].max_body_bytes()
        # servicekit/middleware.py refused a Content-Length over the limit already; this also holds
        # for a body whose Content-Length understated it.
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(too_large_message(limit))
        return ApiJSONParser().parse(io.BytesIO(body), media_type, parser_context)
