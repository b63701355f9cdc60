"""The user's steering strength: `GET /api/v1/steering/` (mode, alpha in use, the learning state per arm) and
`PUT` (pin an alpha, or return to learning)."""

from __future__ import annotations

import copy

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment_engine.config import MAX_ALPHA
from core.openapi import error_responses
from core.strict_input import StrictFloatField, StrictInputSerializer
from preferences.models import SteeringProfile
from preferences.steering_selectors import steering_summary
from preferences.steering_services import steering_set

TAGS = ["steering"]


class SteeringArmSerializer(serializers.Serializer):
    alpha = serializers.FloatField()
    ups = serializers.IntegerField()
    downs = serializers.IntegerField()
    posterior_mean = serializers.FloatField(help_text="Posterior mean of an up rating, Beta(1 + ups, 1 + downs).")


class SteeringOutputSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=SteeringProfile.Mode.choices)
    alpha = serializers.FloatField(
        help_text="Pinned: that alpha. Learned: the arm rated best so far (requests "
        "without an alpha draw an arm by Thompson sampling)."
    )
    arms = SteeringArmSerializer(many=True)


class SteeringInputSerializer(StrictInputSerializer):
    mode = serializers.ChoiceField(choices=SteeringProfile.Mode.choices)
    alpha = StrictFloatField(
        required=False, allow_null=True, min_value=0, max_value=MAX_ALPHA, help_text="With mode pinned only."
    )


# The body as a client may send it: pinned needs an alpha, learned takes none.
STEERING_INPUT_SCHEMA = {
    "type": "object",
    "required": ["mode"],
    "properties": {
        "mode": {"type": "string", "enum": [choice for choice, _ in SteeringProfile.Mode.choices]},
        "alpha": {
            "type": "number",
            "nullable": True,
            "minimum": 0,
            "maximum": MAX_ALPHA,
            "description": "With mode pinned only.",
        },
    },
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode", "alpha"],
            "properties": {
                "mode": {"type": "string", "pattern": f"^{SteeringProfile.Mode.PINNED}$"},
                "alpha": {"type": "number", "minimum": 0, "maximum": MAX_ALPHA},
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode"],
            "properties": {"mode": {"type": "string", "pattern": f"^{SteeringProfile.Mode.LEARNED}$"}},
        },
    ],
}


class SteeringInputSchema(OpenApiSerializerExtension):
    """The input serializer's schema says what its validation says: which alpha goes with which mode."""

    target_class = SteeringInputSerializer

    def map_serializer(self, auto_schema, direction):
        return copy.deepcopy(STEERING_INPUT_SCHEMA)  # the generator rewrites enums in place


class SteeringApi(APIView):
    @extend_schema(
        operation_id="steering_retrieve", tags=TAGS, responses={200: SteeringOutputSerializer, **error_responses(401)}
    )
    def get(self, request: Request) -> Response:
        return Response(SteeringOutputSerializer(steering_summary(user=request.user)).data)

    @extend_schema(
        operation_id="steering_update",
        tags=TAGS,
        request=SteeringInputSerializer,
        summary="Pin an alpha, or return to the learned one (ratings are kept)",
        responses={200: SteeringOutputSerializer, **error_responses(400, 401)},
    )
    def put(self, request: Request) -> Response:
        data = SteeringInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        steering_set(
            user=request.user,
            mode=data.validated_data["mode"],
            alpha=data.validated_data.get("alpha"),
            alpha_given="alpha" in request.data,
        )
        return Response(SteeringOutputSerializer(steering_summary(user=request.user)).data)
