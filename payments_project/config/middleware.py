"""Refuse a body over API_MAX_BODY_BYTES by its Content-Length, before anything reads it.

A body without a Content-Length (chunked) is never read under WSGI; where a server hands one over
anyway (ASGI), request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE, the same number, and
config.errors answers that with the same 413. Kept identical in both projects.
"""

from django.conf import settings
from django.http import JsonResponse

from config.errors import error_body, request_too_large_response


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = (request.META.get("CONTENT_LENGTH") or "0").strip()
        if not (length.isascii() and length.isdigit()):
            # Django would take it for 0 here and fail with a 500 when reading request.body.
            message = "Content-Length must be a whole number of bytes."
            return JsonResponse(error_body("bad_request", message), status=400)
        # len() first: int() refuses a string of more than 4300 digits.
        if len(length) > 18 or int(length) > settings.API_MAX_BODY_BYTES:
            return request_too_large_response()
        return self.get_response(request)
