"""Admin for support staff: users with their principles inline, principles with read-only version history.

Every write goes through preferences.services so the version history stays complete; nothing is deleted
(deleting a principle means deactivating it). Only staff can log in (Django admin's own rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.exceptions import ApplicationError
from preferences.models import Principle, PrincipleVersion, SteeringProfile, Suggestion
from preferences.selectors import principle_active_count
from preferences.services import principle_activate, principle_create, principle_deactivate, principle_update
from preferences.steering_selectors import steering_summary
from preferences.suggestion_services import suggestion_accept, suggestion_reject

User = get_user_model()


class PrincipleVersionInline(admin.TabularInline):
    model = PrincipleVersion
    fields = ("number", "text", "title", "weight", "active", "created_at", "created_by")
    readonly_fields = fields
    ordering = ("-number",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Principle | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Principle | None = None) -> bool:
        return False


class PrincipleAdminForm(forms.ModelForm):
    class Meta:
        model = Principle
        fields = ("owner", "title", "text", "weight", "active", "position")

    def clean(self) -> dict:
        """Report the active limit on the form instead of failing in save_model."""
        cleaned = super().clean()
        owner = cleaned.get("owner") or getattr(self.instance, "owner", None)
        activating = cleaned.get("active") and not (self.instance.pk and self.instance.active)
        if owner is not None and activating:
            limit = settings.MAX_ACTIVE_PRINCIPLES_PER_USER
            if principle_active_count(user=owner) >= limit:
                self.add_error("active", f"{owner} already has {limit} active principles, the limit.")
        return cleaned


def _apply(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    action: Callable[[Any], object],
    verb: str,
    noun: str,
) -> None:
    """Run a service on each selected object; report how many it did and why it refused the others."""
    done, refused = 0, []
    for item in queryset:
        try:
            action(item)
            done += 1
        except ApplicationError as error:
            refused.append(f"#{item.pk}: {error.message}")
    modeladmin.message_user(request, f"{verb} {done} {noun}(s).", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, "Refused: " + " ".join(refused), messages.ERROR)


@admin.action(description="Activate selected principles (records a new version)")
def activate_principles(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(
        modeladmin,
        request,
        queryset,
        lambda p: principle_activate(principle=p, actor=request.user),
        "Activated",
        "principle",
    )


@admin.action(description="Deactivate selected principles (records a new version)")
def deactivate_principles(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(
        modeladmin,
        request,
        queryset,
        lambda p: principle_deactivate(principle=p, actor=request.user),
        "Deactivated",
        "principle",
    )


@admin.register(Principle)
class PrincipleAdmin(admin.ModelAdmin):
    form = PrincipleAdminForm
    list_display = ("id", "owner", "title", "short_text", "weight", "active", "position", "version", "updated_at")
    list_filter = ("active", "owner__is_staff", "updated_at")
    search_fields = ("text", "title", "owner__username", "owner__email")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    readonly_fields = ("version", "created_at", "updated_at")
    inlines = [PrincipleVersionInline]
    actions = [activate_principles, deactivate_principles]

    @admin.display(description="text")
    def short_text(self, principle: Principle) -> str:
        return principle.text if len(principle.text) <= 80 else principle.text[:79] + "…"

    def get_readonly_fields(self, request: HttpRequest, obj: Principle | None = None) -> tuple:
        # The owner is chosen once; moving a principle between users would rewrite whose history it is.
        return self.readonly_fields + (("owner",) if obj else ())

    def has_delete_permission(self, request: HttpRequest, obj: Principle | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Principle, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in ("title", "text", "weight", "active", "position")}
        if change:
            saved = principle_update(principle=obj, actor=request.user, **data)
        else:
            saved = principle_create(owner=form.cleaned_data["owner"], actor=request.user, **data)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(PrincipleVersion)
class PrincipleVersionAdmin(admin.ModelAdmin):
    list_display = ("principle", "number", "title", "weight", "active", "created_at", "created_by")
    list_filter = ("active", "created_at")
    search_fields = ("text", "title", "principle__owner__username")
    list_select_related = ("principle", "created_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PrincipleVersion | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PrincipleVersion | None = None) -> bool:
        return False


class PrincipleInline(admin.TabularInline):
    """The user's principles, read-only here; edit one through its own page so a version is recorded."""

    model = Principle
    fields = ("title", "text", "weight", "active", "position", "version", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("position", "id")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


admin.site.unregister(User)


@admin.register(User)
class PrincipledUserAdmin(UserAdmin):
    inlines = [PrincipleInline]
    list_filter = UserAdmin.list_filter + ("principles__active",)


# --- Chat: read-only for support, cancelling jobs through the service --------------------------------------


@admin.action(description="Accept selected suggestions (as the user would: a new principle or version)")
def accept_suggestions(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(
        modeladmin,
        request,
        queryset,
        lambda s: suggestion_accept(suggestion=s, actor=request.user),
        "Accepted",
        "suggestion",
    )


@admin.action(description="Reject selected suggestions (the same evidence is not proposed again)")
def reject_suggestions(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(modeladmin, request, queryset, lambda s: suggestion_reject(suggestion=s), "Rejected", "suggestion")


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    """Suggestions from feedback; staff accept or reject them through the same services as the user."""

    list_display = ("id", "owner", "kind", "status", "principle", "short_text", "weight", "created_at")
    list_filter = ("status", "kind", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("owner__username", "text", "rationale")
    list_select_related = ("owner", "principle")
    actions = [accept_suggestions, reject_suggestions]
    fields = (
        "owner",
        "kind",
        "status",
        "principle",
        "text",
        "weight",
        "rule",
        "rationale",
        "feedback_ids",
        "evidence_key",
        "created_at",
        "updated_at",
        "decided_at",
    )
    readonly_fields = fields

    @admin.display(description="text")
    def short_text(self, suggestion: Suggestion) -> str:
        return suggestion.text[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Suggestion | None = None) -> bool:
        return False


@admin.register(SteeringProfile)
class SteeringProfileAdmin(admin.ModelAdmin):
    """Each user's steering strength: mode, pinned alpha, and the ratings per arm (read-only)."""

    list_display = ("owner", "mode", "pinned_alpha", "alpha_in_use", "updated_at")
    list_filter = ("mode",)
    search_fields = ("owner__username",)
    fields = ("owner", "mode", "pinned_alpha", "alpha_in_use", "arms", "updated_at")
    readonly_fields = fields

    @admin.display(description="alpha in use")
    def alpha_in_use(self, profile: SteeringProfile) -> float:
        return steering_summary(user=profile.owner)["alpha"]

    @admin.display(description="arms (alpha: up/down)")
    def arms(self, profile: SteeringProfile) -> str:
        return ", ".join(
            f"{arm['alpha']:g}: {arm['ups']}/{arm['downs']}" for arm in steering_summary(user=profile.owner)["arms"]
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SteeringProfile | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SteeringProfile | None = None) -> bool:
        return False
