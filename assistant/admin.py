"""Admin for support staff: a read-only view of the assistant domain (conversations with their messages,
generation jobs), with a cancel action that cancels a job the way the API does."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from assistant.models import Conversation, Feedback, GenerationJob, Message
from assistant.services import job_cancel
from core.exceptions import ApplicationError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("position", "role", "content", "created_at")
    readonly_fields = fields
    ordering = ("position",)


class ConversationJobInline(ReadOnlyInline):
    """The conversation's jobs, each linked to its page (settings, principles, timings, cancel)."""

    model = GenerationJob
    fk_name = "conversation"
    fields = ("status", "alpha", "backend", "completion_tokens", "latency_ms", "error_code", "created_at")
    readonly_fields = fields
    ordering = ("created_at",)
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "created_at", "updated_at")
    list_filter = ("created_at", "updated_at")
    date_hierarchy = "updated_at"
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    fields = ("id", "owner", "title", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [MessageInline, ConversationJobInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


@admin.action(description="Cancel selected jobs (queued: at once; running: at the next token)", permissions=["cancel"])
def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    cancelled, stopping, refused = 0, 0, []
    for job in queryset:
        try:
            job = job_cancel(job=job)
        except ApplicationError as error:
            refused.append(f"{job.pk}: {error.message}")
            continue
        if job.status == GenerationJob.Status.CANCELLED:
            cancelled += 1
        else:
            stopping += 1
    modeladmin.message_user(
        request,
        f"Cancelled {cancelled} queued job(s); asked the worker to stop {stopping} running job(s).",
        messages.SUCCESS,
    )
    if refused:
        modeladmin.message_user(request, "Refused: " + " ".join(refused), messages.ERROR)


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    """Jobs are the record of what was generated and how: read-only; the one write is the cancel action."""

    list_display = (
        "id",
        "status",
        "owner",
        "backend",
        "model_id",
        "alpha",
        "completion_tokens",
        "latency_ms",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "backend", "created_at")
    search_fields = ("=id", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    actions = [cancel_jobs]
    fieldsets = (
        (None, {"fields": ("id", "owner", "conversation", "status", "cancel_requested", "reply_content")}),
        (
            "Generation",
            {
                "fields": (
                    "model_id",
                    "backend",
                    "alpha",
                    "settings",
                    "principle_versions",
                    "input_messages",
                    "prompt_tokens",
                    "completion_tokens",
                    "finish_reason",
                )
            },
        ),
        (
            "Run",
            {
                "fields": (
                    "worker_id",
                    "attempts",
                    "error_code",
                    "error_message",
                    "latency_ms",
                    "generation_seconds",
                    "timings",
                    "created_at",
                    "enqueued_at",
                    "started_at",
                    "heartbeat_at",
                    "finished_at",
                )
            },
        ),
        ("Callback", {"fields": ("callback_url", "callback_status", "callback_attempts")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    @admin.display(description="reply")
    def reply_content(self, job: GenerationJob) -> str:
        reply = getattr(job, "reply", None)
        return reply.content if reply is not None else "–"

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Cancelling is a change to the job: staff need the change permission, though the form stays read-only."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GenerationJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: GenerationJob | None = None) -> bool:
        return False


class FeedbackPrincipleFilter(admin.SimpleListFilter):
    """Feedback on replies that applied a given principle (any of its versions)."""

    title = "principle"
    parameter_name = "principle"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        seen: dict[int, str] = {}
        for versions in Feedback.objects.values_list("principle_versions", flat=True)[:2000]:
            for version in versions:
                if version.get("principle_id") is not None:
                    seen.setdefault(version["principle_id"], version["text"][:60])
        return [(str(principle_id), f"{principle_id}: {text}") for principle_id, text in sorted(seen.items())]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value() or not self.value().isdigit():
            return queryset
        wanted = int(self.value())
        if connection.vendor == "postgresql":
            # In SQL (jsonb containment): a list of ids could pass the 65,535 parameters a bound statement holds.
            return queryset.filter(principle_versions__contains=[{"principle_id": wanted}])
        matching = [
            pk
            for pk, versions in queryset.values_list("pk", "principle_versions")
            if any(version.get("principle_id") == wanted for version in versions)
        ]
        return queryset.filter(pk__in=matching)


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """What users said about replies, with the replies' provenance: read-only (users own their feedback)."""

    list_display = ("id", "owner", "rating", "job", "model_id", "backend", "alpha", "created_at")
    list_filter = (
        "rating",
        ("owner", admin.RelatedOnlyFieldListFilter),
        FeedbackPrincipleFilter,
        "model_id",
        "created_at",
    )
    search_fields = ("=job__id", "owner__username", "comment")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    fields = (
        "owner",
        "job",
        "rating",
        "comment",
        "corrected_text",
        "tags",
        "reply_text",
        "principle_versions",
        "alpha",
        "steering_arm",
        "model_id",
        "backend",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Feedback | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Feedback | None = None) -> bool:
        return False
