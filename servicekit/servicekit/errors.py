"""One error shape for every response: {"code": ..., "message": ..., "errors": {field: [...]}}."""

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

# What Django raises when the database is gone for a while (a restart, a failover, a connection
# refused or cut): an answer to try again shortly (DatabaseUnavailable), and in a task a retry.
DATABASE_ERRORS = (OperationalError, InterfaceError)


class ApplicationError(Exception):
    """Base of every domain error; subclasses set the HTTP status and a stable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, errors: dict | None = None):
        self.message = message or self.message
        self.errors = errors or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    """Base of a domain error about something that does not exist: a 404."""

    status_code = status.HTTP_404_NOT_FOUND


class Conflict(ApplicationError):
    """Base of a domain error about a request that the state of things forbids: a 409."""

    status_code = status.HTTP_409_CONFLICT


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class DatabaseUnavailable(exceptions.APIException):
    """The database dropped or refused the connection (restart, failover, pool exhausted): a
    503 the client may retry, not a 500. Django reconnects on the next request."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The service is briefly unavailable; retry shortly."
    wait = 1  # seconds, the answer's Retry-After


def database_unavailable_response() -> JsonResponse:
    """DatabaseUnavailable's answer where DRF's exception handler does not run."""
    exc = DatabaseUnavailable()
    response = JsonResponse(error_body(exc.default_code, str(exc.detail)), status=exc.status_code)
    response["Retry-After"] = str(exc.wait)
    return response


def error_body(code: str, message: str, errors: dict | None = None) -> dict:
    return {"code": code, "message": message, "errors": errors or {}}


def too_large_message(limit: int | None = None) -> str:
    """`limit`: a route's own body limit (servicekit/middleware.py), else API_MAX_BODY_BYTES."""
    return f"The request body is larger than {limit or settings.API_MAX_BODY_BYTES} bytes."


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    return {"nonFieldErrors": detail if isinstance(detail, list) else [detail]}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.errors), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # request.body over DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = RequestTooLarge(too_large_message())
    elif isinstance(exc, DATABASE_ERRORS):
        logger.warning("database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django logs it and handler500 answers with a JSON 500

    set_rollback()
    headers = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", "The request has invalid fields.", _field_errors(exc.detail))
    else:
        body = error_body(exc.default_code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def not_found_view(request, exception=None):
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def server_error_view(request):
    # Django calls it while it handles the exception. A database gone before any view ran (a
    # middleware's query, the admin's session) is the 503 that a view's own error would be.
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable_response()
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def request_too_large_response(limit: int | None = None) -> JsonResponse:
    return JsonResponse(error_body("request_too_large", too_large_message(limit)), status=413)


def bad_request_view(request, exception=None):
    # Django answers a SuspiciousOperation here; too big a body (outside DRF: the admin's forms)
    # is the client's to shrink, so it gets the same 413 as the API.
    if isinstance(exception, RequestDataTooBig):
        return request_too_large_response()
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)
