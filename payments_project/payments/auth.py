"""The mocked auth details: one shared service token, sent as "Authorization: Bearer <token>"."""

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
        # Constant-time comparison: response timing reveals nothing about the token.
        if not hmac.compare_digest(token.strip().encode(), settings.PAYMENTS_API_TOKEN.encode()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return ServiceClient(), token

    def authenticate_header(self, request):
        return self.keyword


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for ServiceTokenAuthentication: HTTP bearer auth."""

    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "PAYMENTS_API_TOKEN"}
