"""Server-Sent Events for a job: relay the worker's text deltas from the start of the job's event log (a late
client gets what it missed; `Last-Event-ID` resumes), then one final event with the stored job and reply."""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from assistant import events
from assistant.selectors import job_get_any
from assistant.serializers import JobSerializer
from core.db import connection_release

KEEPALIVE_SECONDS = 15


@dataclass(frozen=True)
class Delta:
    id: str
    text: str


@dataclass(frozen=True)
class Restart:
    """The job is being generated again (a retry): the text streamed so far is void."""

    id: str
    attempt: int


@dataclass(frozen=True)
class Finished:
    job: dict[str, Any] | None  # the stored job; None when it vanished (conversation deleted)


@dataclass(frozen=True)
class Keepalive:
    pass


def _finished_job(job_id) -> Finished | None:
    """The job's final state once it finished; the connection goes back to the pool between checks."""
    try:
        job = job_get_any(job_id=job_id)
        if job is None:
            return Finished(job=None)
        if not job.is_finished:
            return None
        return Finished(job=JobSerializer(job).data)
    finally:
        connection_release()


async def job_updates(
    *,
    job_id,
    after: str = events.START_ID,
) -> AsyncIterator[Delta | Restart | Finished | Keepalive]:
    """Deltas (and Restarts) as they are published, a Keepalive now and then, and Finished last."""
    finished_check = sync_to_async(_finished_job)
    deadline = time.monotonic() + settings.GENERATION_STREAM_MAX_SECONDS
    quiet_since = time.monotonic()
    updates = events.job_events().follow(job_id, after, block_ms=1000)
    try:
        async for batch in updates:
            for event in batch:
                if event.kind == events.END:
                    yield await finished_check(job_id) or Finished(job=None)
                    return
                quiet_since = time.monotonic()
                if event.kind == events.RESTART:
                    yield Restart(id=event.id, attempt=event.data.get("attempt", 0))
                else:
                    yield Delta(id=event.id, text=event.data.get("text", ""))
            if batch:
                continue
            # Nothing new: the job may have ended without a visible end event (log expired or flushed).
            finished = await finished_check(job_id)
            if finished is not None:
                yield finished
                return
            if time.monotonic() > deadline:
                return
            if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield Keepalive()
    finally:
        await updates.aclose()


def sse(*, data: Any, event: str | None = None, event_id: str | None = None) -> bytes:
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    payload = data if isinstance(data, str) else json.dumps(data, cls=DjangoJSONEncoder)
    lines.extend(f"data: {line}" for line in payload.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


async def job_event_stream(*, job_id, after: str) -> AsyncIterator[bytes]:
    """`event: delta` per text piece (`{"text": ...}`), `event: restart` when a retry starts over (drop the text
    so far), then `event: done` with the job (reply included)."""
    yield b"retry: 2000\n\n"
    async for update in job_updates(job_id=job_id, after=after):
        if isinstance(update, Delta):
            yield sse(event="delta", event_id=update.id, data={"text": update.text})
        elif isinstance(update, Restart):
            yield sse(event="restart", event_id=update.id, data={"attempt": update.attempt})
        elif isinstance(update, Keepalive):
            yield b": keepalive\n\n"
        else:
            yield sse(event="done", data={"job": update.job})
