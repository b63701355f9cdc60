"""`Authorization: Bearer <token>` for the OpenAI-compatible endpoint: OpenAI clients send their api_key that
way; the token is the same knox token as `Authorization: Token <token>`."""
from knox.auth import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    def authenticate_header(self, request) -> str:
        return "Bearer"
