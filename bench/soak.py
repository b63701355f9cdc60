"""Soak run: 32 clients mixing submit, poll, stream and cancel against the production shape for several minutes.

Starts its own stack on loopback (gunicorn with uvicorn workers and the PostgreSQL pool, one Celery worker with the
real default model, PostgreSQL database `principled_soak`, Redis DB 13). Each client, until the time is up: creates
a conversation, submits a message (a short reply), then follows the job one of three ways (poll it, stream it, or
cancel it), and lists its jobs now and then. Afterwards every accepted job must end: succeeded, failed with a reason
or cancelled.

Reports: requests by status (zero 5xx wanted), accepted jobs and how they ended (zero lost), and the memory (RSS) of
the web and worker process trees, sampled through the run: the growth from the first sample after the warm-up to
the last (under 10% wanted).

  .venv/bin/python -m bench.soak --minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import statistics
import time
from pathlib import Path

import httpx
import psycopg

from bench.service import PY, ROOT, Processes, free_port, migrate_and_issue_token, stack_env

DATABASE = "principled_soak"
REDIS_URL = "redis://127.0.0.1:6379/13"
FINISHED = {"succeeded", "failed", "cancelled"}


def soak_env(batch_size: int) -> dict[str, str]:
    env = stack_env(batch_size, "gunicorn")
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=REDIS_URL,
        CACHE_KEY_PREFIX="principled-soak",
    )
    return env


def reset_database() -> None:
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[parent].append(int(entry.name))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Soak:
    def __init__(self, client: httpx.AsyncClient, deadline: float, max_new_tokens: int, seed: int):
        self.client, self.deadline, self.max_new_tokens = client, deadline, max_new_tokens
        self.random = random.Random(seed)
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []  # 5xx answers and transport errors, as they came
        self.transport_errors = 0
        self.accepted: set[str] = set()
        self.actions: collections.Counter[str] = collections.Counter()

    async def request(self, method: str, url: str, **kwargs) -> httpx.Response | None:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.transport_errors += 1
            self.errors.append(f"{method} {url}: {type(exc).__name__}: {exc}")
            return None
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.errors.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return response

    async def poll_until_finished(self, job_id: str) -> None:
        while time.monotonic() < self.deadline + 600:
            response = await self.request("GET", f"/jobs/{job_id}/")
            if response is None or response.status_code != 200 or response.json()["status"] in FINISHED:
                return
            await asyncio.sleep(0.25)

    async def stream(self, job_id: str) -> None:
        try:
            async with self.client.stream(
                "GET", f"/jobs/{job_id}/stream/", headers={"Accept": "text/event-stream"}
            ) as response:
                self.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    self.errors.append(f"stream {job_id}: {response.status_code}")
                    return
                async for line in response.aiter_lines():
                    if line.startswith("event: done"):
                        break
        except httpx.HTTPError as exc:
            self.transport_errors += 1
            self.errors.append(f"stream {job_id}: {type(exc).__name__}: {exc}")

    async def one_client(self, index: int) -> None:
        while time.monotonic() < self.deadline:
            conversation = await self.request("POST", "/conversations/", json={})
            if conversation is None or conversation.status_code != 201:
                await asyncio.sleep(1)
                continue
            submitted = await self.request(
                "POST",
                f"/conversations/{conversation.json()['id']}/messages/",
                json={
                    "content": f"Client {index}: give me one tip for sleeping well.",
                    "settings": {"max_new_tokens": self.max_new_tokens},
                },
            )
            if submitted is None or submitted.status_code not in (200, 202):
                await asyncio.sleep(1)
                continue
            job_id = submitted.json()["id"]
            self.accepted.add(job_id)
            action = self.random.choices(["poll", "stream", "cancel"], weights=[5, 3, 2])[0]
            self.actions[action] += 1
            if action == "stream":
                await self.stream(job_id)
            elif action == "cancel":
                await asyncio.sleep(self.random.uniform(0, 1.5))
                await self.request("POST", f"/jobs/{job_id}/cancel/")
            await self.poll_until_finished(job_id)
            if self.random.random() < 0.2:
                await self.request("GET", "/jobs/", params={"limit": 20})


async def run(args: argparse.Namespace, base_url: str, token: str, pids: dict[str, int]) -> dict:
    limits = httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients * 2)
    async with httpx.AsyncClient(
        base_url=base_url + "/api/v1", headers={"Authorization": f"Token {token}"}, timeout=180, limits=limits
    ) as client:
        started = time.monotonic()
        soak = Soak(client, started + args.minutes * 60, args.max_new_tokens, args.seed)
        memory: list[tuple[float, float, float]] = []

        async def sample_memory() -> None:
            while time.monotonic() < soak.deadline:
                memory.append((time.monotonic() - started, tree_rss_mb(pids["web"]), tree_rss_mb(pids["worker"])))
                await asyncio.sleep(args.sample_seconds)
            memory.append((time.monotonic() - started, tree_rss_mb(pids["web"]), tree_rss_mb(pids["worker"])))

        await asyncio.gather(sample_memory(), *(soak.one_client(index) for index in range(args.clients)))
        drained = time.monotonic()
        endings: collections.Counter[str] = collections.Counter()
        unfinished: list[str] = []
        failed_without_reason = 0
        for job_id in sorted(soak.accepted):
            job = (await client.get(f"/jobs/{job_id}/")).json()
            deadline = time.monotonic() + 300
            while job["status"] not in FINISHED and time.monotonic() < deadline:
                await asyncio.sleep(1)
                job = (await client.get(f"/jobs/{job_id}/")).json()
            endings[job["status"]] += 1
            if job["status"] not in FINISHED:
                unfinished.append(job_id)
            if job["status"] == "failed" and not (job["error"] or {}).get("code"):
                failed_without_reason += 1
        return {
            "soak": soak,
            "memory": memory,
            "endings": endings,
            "unfinished": unfinished,
            "failed_without_reason": failed_without_reason,
            "drain_seconds": time.monotonic() - drained,
            "seconds": drained - started,
        }


def report(result: dict, args: argparse.Namespace) -> list[str]:
    soak, memory = result["soak"], result["memory"]
    warm = [sample for sample in memory if sample[0] >= args.warmup_seconds] or memory
    growth = {
        name: (warm[-1][column] - warm[0][column]) / warm[0][column] * 100
        for column, name in ((1, "web"), (2, "worker"))
    }
    server_errors = sum(count for status, count in soak.statuses.items() if status >= 500)
    lost = len(result["unfinished"]) + result["failed_without_reason"]
    rows = [
        f"Soak: {args.clients} clients for {result['seconds'] / 60:.1f} minutes (new jobs for {args.minutes:g}) "
        f"({dict(soak.actions)} jobs followed "
        f"by poll/stream/cancel), max_new_tokens {args.max_new_tokens}; drained in {result['drain_seconds']:.0f} s.",
        "",
        "| Measurement | Wanted | Measured | |",
        "|---|---|---:|---|",
        f"| requests | - | {sum(soak.statuses.values())} | |",
        f"| 5xx answers | 0 | {server_errors} | {'PASS' if server_errors == 0 else 'MISS'} |",
        f"| transport errors | 0 | {soak.transport_errors} | {'PASS' if soak.transport_errors == 0 else 'MISS'} |",
        f"| accepted jobs | - | {len(soak.accepted)} | |",
        f"| lost jobs (unfinished, or failed without a reason) | 0 | {lost} | {'PASS' if lost == 0 else 'MISS'} |",
        f"| web memory growth after warm-up (MB {warm[0][1]:.0f} -> {warm[-1][1]:.0f}) | < 10% "
        f"| {growth['web']:.1f}% | {'PASS' if growth['web'] < 10 else 'MISS'} |",
        f"| worker memory growth after warm-up (MB {warm[0][2]:.0f} -> {warm[-1][2]:.0f}) | < 10% "
        f"| {growth['worker']:.1f}% | {'PASS' if growth['worker'] < 10 else 'MISS'} |",
        "",
        f"Statuses: {dict(sorted(soak.statuses.items()))}; job endings: {dict(result['endings'])}; "
        f"memory samples: {len(memory)} (median web {statistics.median(s[1] for s in memory):.0f} MB, "
        f"worker {statistics.median(s[2] for s in memory):.0f} MB).",
    ]
    if soak.errors:
        rows += ["", "First errors:", *(f"- {error}" for error in soak.errors[:10])]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    reset_database()
    env = soak_env(args.batch_size)
    env["THROTTLE_GENERATION_RATE"] = "1000000/min"
    logs = ROOT / "var" / "soak"
    logs.mkdir(parents=True, exist_ok=True)
    token = migrate_and_issue_token(env, "soak")
    processes = Processes(env, logs)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        processes.start(
            "web",
            [PY, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.asgi:application", "--log-level", "warning"],
            {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.web_workers)},
        )
        processes.start_worker("soak1")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {logs}/web.log")
            time.sleep(0.3)
        pids = {"web": processes.running["web"].pid, "worker": processes.running["soak1"].pid}
        result = asyncio.run(run(args, base_url, token, pids))
    finally:
        processes.stop_all()
    print(
        f"\nServer: gunicorn + {args.web_workers} uvicorn workers, 1 Celery worker (batch size {args.batch_size}); "
        f"CPU cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.1f}\n"
    )
    print("\n".join(report(result, args)))


if __name__ == "__main__":
    main()
