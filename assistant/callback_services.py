"""Delivering a finished job's callback and recording the outcome on the job."""

import json
import logging

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F

from assistant.callback_secrets import callback_secret_get
from assistant.callbacks import CallbackDeliveryFailed, CallbackUrlRejected, callback_post
from assistant.models import GenerationJob
from assistant.serializers import JobSerializer

logger = logging.getLogger(__name__)
CallbackStatus = GenerationJob.CallbackStatus


def callback_body(*, job: GenerationJob) -> bytes:
    payload = {"event": "job.finished", "job": JobSerializer(job).data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def job_callback_deliver(*, job_id, final_attempt: bool) -> bool:
    """One delivery attempt. True when delivered (or nothing left to do); False when it should be retried."""
    job = GenerationJob.objects.select_related("reply").filter(pk=job_id).first()
    if job is None or job.callback_status != CallbackStatus.PENDING:
        return True
    GenerationJob.objects.filter(pk=job.pk).update(callback_attempts=F("callback_attempts") + 1)
    try:
        callback_post(
            url=job.callback_url,
            body=callback_body(job=job),
            job_id=str(job.pk),
            secret=callback_secret_get(user_id=job.owner_id).secret,
        )
    except CallbackUrlRejected as exc:
        logger.warning("callback of job %s refused: %s", job.pk, exc)
        GenerationJob.objects.filter(pk=job.pk).update(callback_status=CallbackStatus.FAILED)
        return True
    except CallbackDeliveryFailed as exc:
        logger.info("callback of job %s not delivered: %s", job.pk, exc)
        if final_attempt:
            GenerationJob.objects.filter(pk=job.pk).update(callback_status=CallbackStatus.FAILED)
            return True
        return False
    GenerationJob.objects.filter(pk=job.pk).update(callback_status=CallbackStatus.DELIVERED)
    return True


def callback_backoff_seconds(*, attempt: int) -> float:
    """Exponential backoff after the given (0-based) failed attempt, capped at ten minutes."""
    return min(settings.GENERATION_CALLBACK_BACKOFF_SECONDS * 2**attempt, 600.0)
