"""Chat routes under /api/v1/."""
from django.urls import path

from assistant import apis, callback_secret_apis, openai_apis

urlpatterns = [
    path("conversations/", apis.ConversationListCreateApi.as_view(), name="conversation-list"),
    path("conversations/<uuid:conversation_id>/", apis.ConversationDetailApi.as_view(), name="conversation-detail"),
    path("conversations/<uuid:conversation_id>/messages/", apis.MessageListCreateApi.as_view(),
         name="conversation-messages"),
    path("jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/stream/", apis.JobStreamApi.as_view(), name="job-stream"),
    path("callbacks/secret/", callback_secret_apis.CallbackSecretApi.as_view(), name="callback-secret"),
    path("callbacks/secret/rotate/", callback_secret_apis.CallbackSecretRotateApi.as_view(),
         name="callback-secret-rotate"),
    path("chat/completions", openai_apis.ChatCompletionApi.as_view(), name="chat-completions"),
]
