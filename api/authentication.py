"""API requests authenticate with a personal token: `Authorization: Bearer <token>`."""

from __future__ import annotations

from django.core.cache import caches
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, throttling

from .models import ApiToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the token after the word Bearer.")
        token = ApiToken.find(header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("This token is unknown, revoked or expired.")
        token.mark_used()
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes unauthenticated requests answer 401 (with this header) rather than 403.
        return f'{self.keyword} realm="api"'


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """Requests per person (API_THROTTLE_RATE), whichever of their tokens they use, so one
    runaway script cannot starve the rest.

    Counted per person, not per token: anyone may make tokens, and thirty tokens had thirty
    times the rate. Counted in the shared cache (in the database), as the login limits are:
    in each web process's own memory, four Gunicorn workers let four times the rate through.
    """

    scope = "token"
    cache = caches["shared"]

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
        return None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token."}
