"""Per-user callback signing secrets: created on first use, replaced on rotation."""
import secrets

from django.db import transaction
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


@transaction.atomic
def callback_secret_rotate(*, user_id: int) -> CallbackSigningSecret:
    """Replace the user's signing secret: callbacks delivered from now on are signed with the new one."""
    signing_secret = callback_secret_get(user_id=user_id)
    signing_secret = CallbackSigningSecret.objects.select_for_update().get(pk=signing_secret.pk)
    signing_secret.secret = _new_secret()
    signing_secret.rotated_at = timezone.now()
    signing_secret.save(update_fields=["secret", "rotated_at"])
    return signing_secret
