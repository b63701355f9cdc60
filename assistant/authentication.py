"""`Authorization: Bearer <token>` for the OpenAI-compatible endpoint: OpenAI clients send their api_key that
way; the token is the same knox token as `Authorization: Token <token>`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object

from core.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    def authenticate_header(self, request) -> str:
        return "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")
