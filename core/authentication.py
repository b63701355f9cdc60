"""`Authorization: Token <token>`: knox's token authentication, with one query per request at most.

knox checks, on every request, the expiry of every other token the user holds (a query that grows with the
user's devices). Tokens here never expire (REST_KNOX["TOKEN_TTL"] is None), so that scan finds nothing; this class
checks the presented token's own expiry only, and still refuses (and deletes) an expired one.

A token verified once is then read from the shared token cache (core.token_cache: revoked at once on logout,
deactivation and account deletion), so a known token costs no query.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.settings import knox_settings
from knox.signals import token_expired

from core import token_cache


class TokenAuthentication(knox_auth.TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            digest = hash_token(token.decode())
        except (TypeError, ValueError):  # not text: knox's own path answers it
            return super().authenticate_credentials(token)
        cached = token_cache.token_cached(digest)
        if cached is not None and not self._cleanup_token(cached):
            return self.validate_user(cached)
        user, auth_token = super().authenticate_credentials(token)
        token_cache.token_remember(auth_token)
        return user, auth_token

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenScheme(OpenApiAuthenticationExtension):
    """The same security scheme drf-spectacular documents for knox's own class."""

    target_class = TokenAuthentication
    name = "knoxApiToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=knox_settings.AUTH_HEADER_PREFIX
        )
