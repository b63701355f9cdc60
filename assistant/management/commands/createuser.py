"""Register a user (registration is an admin action or this command) and print a new API token."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.auth import token_issue


class Command(BaseCommand):
    help = (
        "Create a user and print an API token (send it as `Authorization: Token <token>`). "
        "Without --password a random password is generated and printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Checked against the password validators.")
        parser.add_argument("--staff", action="store_true", help="Staff and superuser: may use the admin.")
        parser.add_argument(
            "--exists-ok", action="store_true", help="When the user exists, only issue a new token for it."
        )
        parser.add_argument("--token-only", action="store_true", help="Print nothing but the token.")

    def handle(
        self,
        *args,
        username: str,
        email: str,
        password: str | None,
        staff: bool,
        exists_ok: bool,
        token_only: bool,
        **options,
    ) -> None:
        User = get_user_model()
        username = username.strip()
        if not username:
            raise CommandError("username must not be blank.")
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            generated = None
            if user is None:
                generated = None if password else secrets.token_urlsafe(18)
                user = self._create(
                    User,
                    username=username,
                    email=email,
                    password=password or generated,
                    staff=staff,
                    validate_password=not generated,
                )
            elif not exists_ok:
                raise CommandError(f"User {username!r} already exists (use --exists-ok to issue a token).")
            token = token_issue(user=user)
        if token_only:
            self.stdout.write(token)
            return
        self.stdout.write(f"username: {user.get_username()}")
        if generated:
            self.stdout.write(f"password: {generated}")
        self.stdout.write(f"token: {token}")

    @staticmethod
    def _create(User, *, username: str, email: str, password: str, staff: bool, validate_password: bool):
        user = User(username=username, email=email, is_staff=staff, is_superuser=staff)
        try:
            user.full_clean(exclude=["password"])
            if validate_password:
                password_validation.validate_password(password, user)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        user.set_password(password)
        user.save()
        return user
