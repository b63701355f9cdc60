"""OpenAI's own path layout at the root, so `base_url="http://host/v1"` works as well as `.../api/v1`."""

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view

from assistant.openai_apis import ChatCompletionApi


@extend_schema_view(post=extend_schema(exclude=True))
class RootChatCompletionApi(ChatCompletionApi):
    """The same endpoint; documented once, under /api/v1/."""


urlpatterns = [path("chat/completions", RootChatCompletionApi.as_view(), name="chat-completions-root")]
