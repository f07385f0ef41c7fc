"""The mocked auth details: a shared service token, sent as "Authorization: Bearer <token>".
Any of PAYMENTS_API_TOKENS is accepted, so that the token is rotated without a refused call."""

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions


class ServiceClient:
    """Who a valid token belongs to: the Orders service. Never a Django user."""

    is_authenticated = True


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        # The scheme is case-insensitive (RFC 9110 section 11.1): "bearer <token>" is valid too.
        if scheme.lower() != self.keyword.lower() or not token:
            raise exceptions.AuthenticationFailed("Expected 'Authorization: Bearer <token>'.")
        if not accepted(token.strip()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return ServiceClient(), token

    def authenticate_header(self, request):
        return self.keyword


def accepted(token: str) -> bool:
    """Whether `token` is one of PAYMENTS_API_TOKENS. Each is compared in constant time, and
    every one is compared: the time taken reveals nothing about any of them."""
    sent = token.encode()
    matches = [hmac.compare_digest(sent, known.encode()) for known in settings.PAYMENTS_API_TOKENS]
    return any(matches)


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for ServiceTokenAuthentication: HTTP bearer auth."""

    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Any of PAYMENTS_API_TOKENS (with PAYMENTS_API_TOKEN).",
        }
