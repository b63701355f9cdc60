"""A URLconf for the 500 test: the real one plus views that fail unexpectedly."""

from django.urls import path
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def plain_boom(request):
    raise RuntimeError("unexpected")


class ApiBoom(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("unexpected")


urlpatterns = [*urlpatterns, path("boom/", plain_boom), path("api-boom/", ApiBoom.as_view())]
