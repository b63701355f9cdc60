"""Principle endpoints, mounted under /api/v1/."""

from django.urls import path, register_converter

from preferences import apis, steering_apis, suggestion_apis


class IdConverter:
    """A positive id that fits a PostgreSQL bigint; anything else is a 404, never a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("principles/", apis.PrincipleListCreateApi.as_view(), name="principle-list"),
    path("principles/<id:principle_id>/", apis.PrincipleDetailApi.as_view(), name="principle-detail"),
    path(
        "principles/<id:principle_id>/versions/",
        apis.PrincipleVersionListApi.as_view(),
        name="principle-version-list",
    ),
    path(
        "principles/<id:principle_id>/versions/<id:number>/",
        apis.PrincipleVersionDetailApi.as_view(),
        name="principle-version-detail",
    ),
    path(
        "principles/<id:principle_id>/versions/<id:number>/restore/",
        apis.PrincipleVersionRestoreApi.as_view(),
        name="principle-version-restore",
    ),
    path("suggestions/", suggestion_apis.SuggestionListApi.as_view(), name="suggestion-list"),
    path("suggestions/<id:suggestion_id>/", suggestion_apis.SuggestionDetailApi.as_view(), name="suggestion-detail"),
    path(
        "suggestions/<id:suggestion_id>/accept/",
        suggestion_apis.SuggestionAcceptApi.as_view(),
        name="suggestion-accept",
    ),
    path(
        "suggestions/<id:suggestion_id>/reject/",
        suggestion_apis.SuggestionRejectApi.as_view(),
        name="suggestion-reject",
    ),
    path("steering/", steering_apis.SteeringApi.as_view(), name="steering"),
]
