"""Per-user callback signing secrets: created on first use, replaced on rotation.

The secret is stored as is (HMAC signing needs the raw key). Each change is a single INSERT or UPDATE, so
concurrent first uses and rotations need no lock, on PostgreSQL and on the embedded SQLite database alike.
"""

import secrets

from django.db import IntegrityError
from django.utils import timezone

from assistant.models import CallbackSigningSecret


def _new_secret() -> str:
    return secrets.token_hex(32)


def callback_secret_get(*, user_id: int) -> CallbackSigningSecret:
    """The user's signing secret, created the first time it is asked for (by the user or by a delivery)."""
    signing_secret, _ = CallbackSigningSecret.objects.get_or_create(
        user_id=user_id, defaults={"secret": _new_secret(), "rotated_at": timezone.now()}
    )
    return signing_secret


def callback_secret_rotate(*, user_id: int) -> CallbackSigningSecret:
    """Replace the user's signing secret: callbacks delivered from now on are signed with the new one."""
    secret, now = _new_secret(), timezone.now()
    if not CallbackSigningSecret.objects.filter(user_id=user_id).update(secret=secret, rotated_at=now):
        try:
            return CallbackSigningSecret.objects.create(user_id=user_id, secret=secret, rotated_at=now)
        except IntegrityError:  # created meanwhile by a first use: replace that one
            CallbackSigningSecret.objects.filter(user_id=user_id).update(secret=secret, rotated_at=now)
    return CallbackSigningSecret.objects.get(user_id=user_id)
