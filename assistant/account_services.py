"""Deleting the user's account with all of its data (privacy; the export is a read: account_apis)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction


@transaction.atomic
def account_delete(*, user: AbstractBaseUser) -> None:
    """Delete the account: every row that belongs to the user goes with it (foreign keys cascade), its tokens
    included; a worker running one of its jobs stops decoding it at its next cancel poll."""
    user.delete()
