"""Root URL configuration: admin, health, metrics, OpenAPI (schema, Swagger UI, ReDoc), and the versioned API."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("config.health")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html"), name="redoc"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/auth/", include("core.auth")),
    # The assistant's routes first: Django tries the patterns in order, and a job poll is the most frequent request.
    path("api/v1/", include("assistant.urls")),
    path("api/v1/", include("preferences.urls")),
    path("v1/", include("assistant.openai_urls")),
]

handler400 = "core.exception_handler.bad_request"
handler403 = "core.exception_handler.permission_denied"
handler404 = "core.exception_handler.page_not_found"
handler500 = "core.exception_handler.server_error"
