"""Root URL configuration: admin, health, OpenAPI, and the versioned API."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("assistant.health")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/auth/", include("assistant.auth")),
    path("api/v1/", include("preferences.urls")),
    path("api/v1/", include("assistant.chat.urls")),
    path("v1/", include("assistant.chat.openai_urls")),
]

handler400 = "assistant.errors.bad_request"
handler403 = "assistant.errors.permission_denied"
handler404 = "assistant.errors.page_not_found"
handler500 = "assistant.errors.server_error"
