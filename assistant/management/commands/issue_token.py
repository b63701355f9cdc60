"""Print a new API token for an existing user (one token per device; revoke with logout/logoutall)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.auth import token_issue


class Command(BaseCommand):
    help = "Issue a new API token for an existing user and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is disabled.")
        self.stdout.write(token_issue(user=user))
