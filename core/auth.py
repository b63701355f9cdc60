"""Token login for API clients (knox: hashed, revocable, one token per login/device) and logout.

Login attempts are throttled per client address (scope "login") so passwords cannot be guessed at speed.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authentication import TokenAuthentication
from core.exceptions import InvalidCredentials
from core.openapi import error_responses
from core.strict_input import JSONParser, StrictCharField, StrictInputSerializer
from core.throttling import ScopedSortedSetRateThrottle

TAGS = ["auth"]


def token_issue(*, user: AbstractBaseUser) -> str:
    """Create a new knox token for ``user`` and return its secret (stored only as a digest)."""
    _, token = AuthToken.objects.create(user=user)
    return token


class LoginThrottle(ScopedSortedSetRateThrottle):
    """Counts login attempts per REMOTE_ADDR, the address the server saw (uvicorn's --proxy-headers puts the
    real client there behind a trusted proxy). DRF's default would trust a client-sent X-Forwarded-For, and a
    guesser could then get a fresh allowance with every made-up address."""

    def get_ident(self, request: Request) -> str:
        return request.META.get("REMOTE_ADDR", "")


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    throttle_classes = [LoginThrottle]
    throttle_scope = "login"

    class InputSerializer(StrictInputSerializer):
        username = StrictCharField(max_length=150)
        password = StrictCharField(max_length=4096, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
        username = serializers.CharField()

    @extend_schema(
        operation_id="auth_login",
        tags=TAGS,
        summary="Exchange username and password for a new API token",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 413, 415, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            raise InvalidCredentials("Wrong username or password, or the account is disabled.")
        token = token_issue(user=user)
        return Response(self.OutputSerializer({"token": token, "username": user.get_username()}).data)


class LogoutApi(APIView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(
        operation_id="auth_logout",
        tags=TAGS,
        summary="Revoke the token used for this request",
        request=None,
        responses={204: OpenApiResponse(description="Token revoked."), **error_responses(401)},
    )
    def post(self, request: Request) -> Response:
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(
        operation_id="auth_logout_all",
        tags=TAGS,
        summary="Revoke every token of the current user (all devices)",
        request=None,
        responses={204: OpenApiResponse(description="All tokens revoked."), **error_responses(401)},
    )
    def post(self, request: Request) -> Response:
        AuthToken.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("login/", LoginApi.as_view(), name="auth-login"),
    path("logout/", LogoutApi.as_view(), name="auth-logout"),
    path("logoutall/", LogoutAllApi.as_view(), name="auth-logout-all"),
]
