"""A hot POST route answered without DRF's request cycle, with DRF's rules and answers.

DRF's dispatch around a view method (its Request wrapper, content negotiation, the access
checks, the Response and its rendering) costs more CPU than everything POST /order itself does
(docs/performance.md, the layer table). For the requests that need none of its choices, a view
with FastPostMixin skips it: a JSON object in a body of Content-Type `application/json`
(UTF-8), no query string, an Accept that only JSON satisfies, and a view without access
checks. That body is parsed by the API's parser and validated by the view's own serializer, so
the rules are DRF's by construction; the answer is rendered by DRF's JSONRenderer, so its bytes
are the same. Any other request, and any body the parser or the serializer refuses, goes through
DRF's dispatch as before, which answers it exactly as it always has (the error is found again
there: a refused request costs its parsing twice, an accepted one nothing more).

The view declares `fast_post_serializer()` (an instance, reused across requests, as DRF's
ListSerializer reuses its child) and `fast_post(request, validated_data)`, which returns an
HttpResponse (see `json_response`); the schema still comes from the view's `post()` and its
`extend_schema`. A view whose parsers or renderers are not exactly the API's JSON ones, or that
versions its API, is served by DRF alone: the fast path makes no choice DRF would make.
"""

import io

from django.conf import settings
from django.http import HttpResponse
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.renderers import JSONRenderer

from servicekit.errors import api_exception_handler
from servicekit.parsers import ApiJSONParser

_RENDERER = JSONRenderer()
_JSON = "application/json"
# What a client asks for when it takes JSON; anything else is DRF's content negotiation to judge
# ("application/json; indent=4" is rendered indented, say).
_PLAIN_ACCEPT = frozenset({"", "*/*", _JSON})
_UTF8 = frozenset({"utf-8", "utf8"})


class FastPostMixin:
    """Put before APIView in the bases of a view whose POST is hot (module docstring)."""

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST" and self._takes_plain_json(request):
            try:
                data = ApiJSONParser().parse(io.BytesIO(request.body))
                validated = self.fast_post_serializer().run_validation(data)
            except (ParseError, ValidationError):
                pass  # DRF answers it, as it answers every refused request
            else:
                return self.fast_post(request, validated)
        return super().dispatch(request, *args, **kwargs)

    def _is_plain_json_view(self) -> bool:
        """The API's own JSON parser and DRF's JSON renderer alone, no versioning, no access
        checks: then DRF would choose exactly what the fast path does."""
        return (
            [*self.parser_classes] == [ApiJSONParser]
            and [*self.renderer_classes] == [JSONRenderer]
            and self.versioning_class is None
            and not (self.authentication_classes or self.permission_classes)
            and not self.throttle_classes
        )

    def _takes_plain_json(self, request) -> bool:
        meta = request.META
        charset = request.content_params.get("charset")
        return (
            request.content_type == _JSON
            and (charset is None or charset.lower() in _UTF8)
            and meta.get("HTTP_ACCEPT", "").strip() in _PLAIN_ACCEPT
            and not meta.get("QUERY_STRING")
            and (meta.get("CONTENT_LENGTH") or "").isdigit()
            and int(meta["CONTENT_LENGTH"]) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            and self._is_plain_json_view()
            and self.fast_post_headers_allowed(meta)
        )

    def fast_post_headers_allowed(self, meta) -> bool:
        """Whether the request's headers leave the fast path open; a view whose POST reads a
        header of its own (an Idempotency-Key, say) sends those requests to DRF here."""
        return True

    def json_response(self, data, *, status: int) -> HttpResponse:
        """`data` rendered as DRF would render it for this view, with the headers DRF adds."""
        response = HttpResponse(_RENDERER.render(data), status=status, content_type=_JSON)
        for header, value in self.default_response_headers.items():
            response[header] = value
        return response

    def error_response(self, exc: Exception) -> HttpResponse:
        """The answer DRF's exception handler (servicekit.errors) gives `exc`; re-raises one it
        does not handle, which Django then answers with its JSON 500, as under DRF."""
        context = {"view": self, "args": self.args, "kwargs": self.kwargs, "request": self.request}
        handled = api_exception_handler(exc, context)
        if handled is None:
            raise exc
        response = self.json_response(handled.data, status=handled.status_code)
        for header, value in handled.items():
            if header.lower() != "content-type":  # set when DRF renders; ours is JSON
                response[header] = value
        return response
