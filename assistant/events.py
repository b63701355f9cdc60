"""Per-job event log: workers append text deltas and an end marker; streams and waiters read it.

With Redis it is a Redis stream per job (XADD per delta, read from the start, so a late reader gets
everything it missed; the key expires after GENERATION_STREAM_TTL_SECONDS). Without Redis (the embedded
mode, where jobs run in the web process) it is an in-memory log with the same interface.
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache

import redis
import redis.asyncio
from django.conf import settings

DELTA = "delta"
RESTART = "restart"  # a new attempt of the job starts: readers drop the text streamed so far
END = "end"
START_ID = "0"


@dataclass(frozen=True)
class JobEvent:
    id: str
    kind: str  # DELTA, RESTART or END
    data: dict


def _key(job_id) -> str:
    return f"principled:job:{job_id}:events"


class RedisJobEvents:
    def __init__(self, url: str):
        self.url = url
        self.client = redis.Redis.from_url(url)

    def publish(self, job_id, kind: str, data: dict) -> None:
        key = _key(job_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(key, {"kind": kind, "data": json.dumps(data)}, maxlen=20000, approximate=True)
        pipe.expire(key, settings.GENERATION_STREAM_TTL_SECONDS)
        pipe.execute()

    def read(self, job_id, after: str, block_ms: int) -> list[JobEvent]:
        response = self.client.xread({_key(job_id): after}, block=max(block_ms, 1), count=1000)
        return _decode(response)

    async def follow(self, job_id, after: str, block_ms: int) -> AsyncIterator[list[JobEvent]]:
        """Yield batches of events after `after` (an empty batch each block_ms without news)."""
        client = redis.asyncio.Redis.from_url(self.url)
        try:
            while True:
                batch = _decode(await client.xread({_key(job_id): after}, block=block_ms, count=1000))
                if batch:
                    after = batch[-1].id
                yield batch
        finally:
            await client.aclose()


def _decode(response) -> list[JobEvent]:
    events = []
    for _key_name, entries in response or []:
        for entry_id, fields in entries:
            events.append(
                JobEvent(
                    id=entry_id.decode(),
                    kind=fields[b"kind"].decode(),
                    data=json.loads(fields[b"data"]),
                )
            )
    return events


class InMemoryJobEvents:
    """The embedded mode's event log; entries live as long as the process."""

    def __init__(self):
        self._logs: dict[str, list[JobEvent]] = {}
        self._changed = threading.Condition()

    def publish(self, job_id, kind: str, data: dict) -> None:
        with self._changed:
            log = self._logs.setdefault(str(job_id), [])
            log.append(JobEvent(id=str(len(log) + 1), kind=kind, data=data))
            self._changed.notify_all()

    def _after(self, job_id, after: str) -> list[JobEvent]:
        return self._logs.get(str(job_id), [])[int(after.split("-")[0] or 0) :]

    def read(self, job_id, after: str, block_ms: int) -> list[JobEvent]:
        with self._changed:
            events = self._after(job_id, after)
            if not events:
                self._changed.wait(block_ms / 1000)
                events = self._after(job_id, after)
            return events

    async def follow(self, job_id, after: str, block_ms: int) -> AsyncIterator[list[JobEvent]]:
        waited_ms = 0
        while True:
            with self._changed:
                batch = self._after(job_id, after)
            if batch or waited_ms >= block_ms:
                if batch:
                    after = batch[-1].id
                waited_ms = 0
                yield batch
                continue
            await asyncio.sleep(0.05)
            waited_ms += 50


@lru_cache(maxsize=1)
def job_events() -> RedisJobEvents | InMemoryJobEvents:
    """The event log of this deployment: Redis when REDIS_URL is set, else in-memory."""
    if settings.REDIS_URL:
        return RedisJobEvents(settings.REDIS_URL)
    return InMemoryJobEvents()
