"""The user's callback signing secret: read it, or rotate it. Thin views over `callback_secrets`."""

from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant import callback_secrets
from assistant.models import CallbackSigningSecret
from assistant.serializers import CallbackSecretSerializer
from core.openapi import error_responses


def _secret_response(signing_secret: CallbackSigningSecret) -> Response:
    response = Response(CallbackSecretSerializer(signing_secret).data)
    add_never_cache_headers(response)  # a credential: no cache may keep it
    return response


class CallbackSecretApi(APIView):
    @extend_schema(
        operation_id="callback_secret_retrieve",
        responses={
            200: OpenApiResponse(
                CallbackSecretSerializer,
                description=(
                    "Your callback signing secret (created on first request): every callback of your jobs carries "
                    '`X-Principled-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.'
                ),
            ),
            **error_responses(401),
        },
    )
    def get(self, request: Request) -> Response:
        return _secret_response(callback_secrets.callback_secret_get(user_id=request.user.pk))


class CallbackSecretRotateApi(APIView):
    @extend_schema(
        operation_id="callback_secret_rotate",
        request=None,
        responses={
            200: OpenApiResponse(CallbackSecretSerializer, description="The new secret; callbacks from now on use it."),
            **error_responses(401),
        },
    )
    def post(self, request: Request) -> Response:
        return _secret_response(callback_secrets.callback_secret_rotate(user_id=request.user.pk))
