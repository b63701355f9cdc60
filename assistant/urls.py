"""Assistant routes under /api/v1/."""

import re
import uuid

from django.urls import path, register_converter

from assistant import account_apis, apis, callback_secret_apis, feedback_apis, openai_apis


class JobReferenceConverter:
    """A job's UUID, or its OpenAI completion id `chatcmpl-<32 hex>`; both become the UUID."""

    regex = r"chatcmpl-[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(re.sub(r"^chatcmpl-", "", value))

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value)


register_converter(JobReferenceConverter, "job_ref")

urlpatterns = [
    path("conversations/", apis.ConversationListCreateApi.as_view(), name="conversation-list"),
    path("conversations/<uuid:conversation_id>/", apis.ConversationDetailApi.as_view(), name="conversation-detail"),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        apis.MessageListCreateApi.as_view(),
        name="conversation-messages",
    ),
    path("jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/stream/", apis.JobStreamApi.as_view(), name="job-stream"),
    path("jobs/<job_ref:job_id>/feedback/", feedback_apis.JobFeedbackApi.as_view(), name="job-feedback"),
    path("feedback/", feedback_apis.FeedbackListApi.as_view(), name="feedback-list"),
    path("me/", account_apis.AccountApi.as_view(), name="me"),
    path("me/export/", account_apis.AccountExportApi.as_view(), name="me-export"),
    path("callbacks/secret/", callback_secret_apis.CallbackSecretApi.as_view(), name="callback-secret"),
    path(
        "callbacks/secret/rotate/",
        callback_secret_apis.CallbackSecretRotateApi.as_view(),
        name="callback-secret-rotate",
    ),
    path("chat/completions", openai_apis.ChatCompletionApi.as_view(), name="chat-completions"),
]
