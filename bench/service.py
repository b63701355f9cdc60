"""Service benchmark: job submission and polling throughput/latency against the floor of the same server, and
end-to-end jobs per minute.

Starts its own stack on loopback (the production web server: gunicorn with one uvicorn worker per core and
Django's PostgreSQL pool; or `--server uvicorn`, the old single uvicorn process with a connection per request,
to compare) + Celery workers + PostgreSQL database `principled_bench` + Redis DB 14, so it never touches the
development data:

  0. floor: `GET /healthz` (no auth, no database) on the same server: what the server and this load generator
     can do at all on this machine;
  1. submission: `POST /api/v1/conversations/{id}/messages/` (user message + job + enqueue) at 1, 8 and 32
     concurrent clients, with no worker running (jobs only pile up in the queue);
  2. polling: `GET /api/v1/jobs/{id}/` on those jobs at 1, 8 and 32 concurrent clients;
  3. end to end: N jobs submitted at once, 1 then 2 worker processes, jobs/minute from the first submission
     to the last job finished (as recorded in the database).

Prints markdown tables and the targets at 32 clients (job GET >= 300 requests/s, p95 <= 100 ms and >= 0.5x the
floor; submission >= 150 requests/s, p95 <= 150 ms). `make bench-service` runs it with the defaults. The load
generator (aiohttp on uvloop, keep-alive connections) runs on the same machine, so it shares the cores with the
server: each row also prints the CPU per request of the server's processes and of the load generator, the figures
that hold when other work on the machine makes the rates noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import httpx
import psycopg
import uvloop

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DATABASE = "principled_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(batch_size: int, server: str) -> dict[str, str]:
    # The old shape (`--server uvicorn`): one process, a new PostgreSQL connection per request.
    connections = {"DB_POOL_MAX_SIZE": "0", "DB_CONN_MAX_AGE": "0"} if server == "uvicorn" else {}
    return {
        **connections,
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "bench-only-secret",
        "DEBUG": "0",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": "principled-bench",
        "THROTTLE_GENERATION_RATE": "1000000/min",
        "GENERATION_BATCH_SIZE": str(batch_size),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


def reset_data() -> None:
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            connection.execute(f'CREATE DATABASE "{DATABASE}"')


def truncate_jobs() -> None:
    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DATABASE}", autocommit=True) as connection:
        connection.execute(
            "TRUNCATE assistant_reply, assistant_generationjob, assistant_message, assistant_conversation CASCADE"
        )
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


class Processes:
    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        """Start `args` with the stack's environment, and `extra_env` on top of it for this process alone."""
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.running[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.start(
            name,
            [
                PY,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "worker",
                "-Q",
                "generation,callbacks",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            extra_env,
        )
        deadline = time.monotonic() + 300
        while "ready." not in (self.logs / f"{name}.log").read_text(errors="replace"):
            if time.monotonic() > deadline or self.running[name].poll() is not None:
                raise RuntimeError(f"worker {name} did not start; see {self.logs / name}.log")
            time.sleep(0.5)

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def process_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by a process and by each of its live children (gunicorn's
    workers), by pid, from /proc; empty where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(path: Path) -> list[str] | None:
        try:
            return path.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None

    seconds = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = stat(entry / "stat")
        # after the name: state, ppid, ..., utime (index 11), stime (12)
        if fields is not None and (int(entry.name) == pid or int(fields[1]) == pid):
            seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


class LoadClient:
    """The load generator's HTTP client: one aiohttp session whose keep-alive connections every simulated client
    reuses, with the API's path prefix and headers.

    It shares the machine's cores with the server, so its own CPU per request counts against the server's
    throughput: httpx (with one AsyncClient and keep-alive) spent about 3 ms of CPU per request here, aiohttp on
    uvloop far less (each row prints both sides' CPU per request). The floor row uses the same client."""

    def __init__(self, base_url: str, prefix: str = "", headers: dict[str, str] | None = None):
        self.prefix = prefix
        self.session = aiohttp.ClientSession(
            base_url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(limit=64),
        )

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: dict | None = None, params=None) -> tuple[int, bytes]:
        async with self.session.request(method, self.prefix + path, json=body, params=params) as response:
            return response.status, await response.read()

    async def json(self, method: str, path: str, body: dict | None = None, params=None):
        return json.loads((await self.request(method, path, body, params))[1])


def floor_requests(count: int) -> list[tuple[str, str, None]]:
    return [("GET", "/healthz", None)] * count


def poll_requests(job_ids: list[str], count: int) -> list[tuple[str, str, None]]:
    return [("GET", f"/jobs/{job_ids[index % len(job_ids)]}/", None) for index in range(count)]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def run_load(
    client: LoadClient,
    requests: list[tuple[str, str, dict | None]],
    concurrency: int,
    expect: int,
    server_pid: int,
) -> dict[str, float]:
    """Send the requests with `concurrency` clients; requests/s, latency percentiles (ms), and the CPU per request
    of the server (its processes) and of this load generator (ms): on a small machine the two share the cores."""
    pending = list(reversed(requests))
    latencies: list[float] = []
    failures = 0

    async def one_client() -> None:
        nonlocal failures
        while pending:
            method, url, body = pending.pop()
            started = time.perf_counter()
            status, _ = await client.request(method, url, body)
            latencies.append((time.perf_counter() - started) * 1000)
            failures += status != expect

    cpu_before, client_cpu = process_cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu_after, client_cpu = process_cpu_seconds(server_pid), time.process_time() - client_cpu
    used = {pid: seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items()}
    server_cpu = sum(used.values())
    workers = [seconds for pid, seconds in used.items() if pid != server_pid]
    return {
        # the busiest web worker's share of the workers' CPU: 0.5 with two evenly loaded workers, 1.0 when all
        # the connections went to one of them (then the row measures one process, not the server)
        "busiest_worker_share": max(workers) / sum(workers) if workers and sum(workers) > 0 else 1.0,
        "server_cpu_ms": server_cpu * 1000 / len(latencies),
        "client_cpu_ms": client_cpu * 1000 / len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "n": len(latencies),
        "failures": failures,
    }


async def create_conversations(client: LoadClient, count: int) -> list[str]:
    semaphore = asyncio.Semaphore(16)

    async def one() -> str:
        async with semaphore:
            return (await client.json("POST", "/conversations/", {}))["id"]

    return list(await asyncio.gather(*(one() for _ in range(count))))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def end_to_end(client: LoadClient, jobs: int, max_new_tokens: int) -> dict[str, float]:
    conversations = await create_conversations(client, jobs)
    submitted = await asyncio.gather(
        *(
            client.json(
                "POST",
                f"/conversations/{conversation}/messages/",
                {
                    "content": f"Give me tip number {index} for a good night's sleep.",
                    "settings": {"max_new_tokens": max_new_tokens},
                },
            )
            for index, conversation in enumerate(conversations)
        )
    )
    job_ids = [response["id"] for response in submitted]
    finished: dict[str, dict] = {}
    deadline = time.monotonic() + 1800
    while len(finished) < len(job_ids):
        for job_id in job_ids:
            if job_id not in finished:
                job = await client.json("GET", f"/jobs/{job_id}/")
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    finished[job_id] = job
        if time.monotonic() > deadline:
            raise RuntimeError("end-to-end jobs did not finish in 30 minutes")
        await asyncio.sleep(0.5)
    first = min(parse_time(job["created_at"]) for job in finished.values())
    last = max(parse_time(job["finished_at"]) for job in finished.values())
    seconds = (last - first).total_seconds()
    tokens = sum(job["usage"]["completion_tokens"] or 0 for job in finished.values())
    return {
        "jobs_per_minute": len(finished) / seconds * 60,
        "seconds": seconds,
        "succeeded": sum(job["status"] == "succeeded" for job in finished.values()),
        "tokens_per_second": tokens / seconds,
        "latency_p50": percentile([job["latency_ms"] / 1000 for job in finished.values()], 50),
        "workers": len({job["worker_id"] for job in finished.values()}),
    }


def threads_per(workers: int) -> int:
    """llama.cpp threads for each of `workers` worker processes on this machine's cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def load_row(name: str, concurrency: int, result: dict[str, float]) -> str:
    return (
        f"| {name} | {concurrency} | {result['rps']:.1f} | {result['p50']:.1f} | {result['p95']:.1f} "
        f"| {result['n']} ({result['failures']}) | {result['server_cpu_ms']:.2f} | {result['client_cpu_ms']:.2f} "
        f"| {result['busiest_worker_share']:.2f} |"
    )


async def bench(args: argparse.Namespace, base_url: str, token: str, processes: Processes) -> list[str]:
    server_pid = processes.running["web"].pid
    rows = [
        "| Measurement | Clients | Requests/s | p50 ms | p95 ms | Requests (non-2xx) | Server CPU ms/request "
        "| Load generator CPU ms/request | Busiest web worker's CPU share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    results: dict[tuple[str, int], dict[str, float]] = {}
    async with LoadClient(base_url) as floor_client:
        for concurrency in args.clients:
            count = max(args.requests, concurrency * 4)
            result = await run_load(floor_client, floor_requests(count), concurrency, expect=200, server_pid=server_pid)
            results["floor", concurrency] = result
            rows.append(load_row("floor (GET /healthz)", concurrency, result))
    async with LoadClient(base_url, "/api/v1", headers={"Authorization": f"Token {token}"}) as client:
        for concurrency in args.clients:
            count = max(args.requests, concurrency * 4)
            conversations = await create_conversations(client, count)
            requests = [
                ("POST", f"/conversations/{conversation}/messages/", {"content": "Hello there!"})
                for conversation in conversations
            ]
            result = await run_load(client, requests, concurrency, expect=202, server_pid=server_pid)
            results["submit", concurrency] = result
            rows.append(load_row("submit job (POST messages)", concurrency, result))
        job_ids = [job["id"] for job in (await client.json("GET", "/jobs/", params={"limit": 200}))["results"]]
        for concurrency in args.clients:
            count = max(args.requests, concurrency * 4)
            result = await run_load(
                client, poll_requests(job_ids, count), concurrency, expect=200, server_pid=server_pid
            )
            results["poll", concurrency] = result
            rows.append(load_row("poll job (GET job)", concurrency, result))
        paired = await floor_paired_with_poll(
            base_url, token, job_ids, max(args.clients), args.requests, args.paired_rounds, server_pid
        )
        rows += ["", *paired_rows(paired, max(args.clients))]
        truncate_jobs()
        rows += ["", *target_rows(results, max(args.clients), paired)]
        if not args.workers:
            return rows

        header = (
            f"| End to end ({args.jobs} jobs, max_new_tokens {args.max_new_tokens}, batch size "
            f"{args.batch_size}, each worker a share of the cores) | Worker processes | Jobs/minute "
            "| Generated tokens/s | Wall s | p50 job latency s | Succeeded |"
        )
        rows += ["", header, "|---|---:|---:|---:|---:|---:|---:|"]
        for workers in args.workers:
            names = [f"bench{index + 1}" for index in range(workers)]
            # Each worker's llama.cpp runs on its share of the cores: two workers with every core each oversubscribe
            # them (here 19-68 jobs/minute from one run to the next, against 150 with a core each).
            threads = processes.env.get("ENGINE_THREADS") or str(threads_per(workers))
            for name in names:
                processes.start_worker(name, {"ENGINE_THREADS": threads})
            result = await end_to_end(client, args.jobs, args.max_new_tokens)
            rows.append(
                f"| jobs submitted at once | {workers} | {result['jobs_per_minute']:.1f} "
                f"| {result['tokens_per_second']:.1f} | {result['seconds']:.1f} "
                f"| {result['latency_p50']:.1f} | {result['succeeded']}/{args.jobs} |"
            )
            for name in names:
                processes.stop(name)
            truncate_jobs()
    return rows


async def floor_paired_with_poll(
    base_url: str,
    token: str,
    job_ids: list[str],
    concurrency: int,
    requests: int,
    rounds: int,
    server_pid: int,
) -> list[tuple[dict[str, float], dict[str, float]]]:
    """The floor and the job GET in `rounds` back-to-back pairs of `requests` each (floor, then poll, then
    again): each pair ran within seconds, on the same machine state.

    The rows above measure the floor first and the job GET a minute later. On a shared machine whose CPU speed
    drifts (the same Python loop here took 0.22 to 0.39 s from one second to the next), that ratio moved from
    0.24x to 0.93x between two runs of one tree. Each pair also opens new connections: which web worker accepts
    which of the 32 is chance, and a row whose connections went mostly to one worker measures one process (its
    busiest worker's CPU share is printed). A pair with such a row is shown but not counted, and another pair is
    measured in its place (at most `rounds` x 3 pairs in all)."""
    count = max(requests, concurrency * 4)
    floors, polls = floor_requests(count), poll_requests(job_ids, count)
    pairs = []
    while sum(map(balanced, pairs)) < rounds and len(pairs) < rounds * 3:
        async with LoadClient(base_url) as floor_client:
            floor = await run_load(floor_client, floors, concurrency, expect=200, server_pid=server_pid)
        async with LoadClient(base_url, "/api/v1", headers={"Authorization": f"Token {token}"}) as client:
            poll = await run_load(client, polls, concurrency, expect=200, server_pid=server_pid)
        pairs.append((floor, poll))
    return pairs


LOPSIDED_SHARE = 0.75  # a row whose busiest web worker used more than this share of the workers' CPU


def balanced(pair: tuple[dict[str, float], dict[str, float]]) -> bool:
    """Whether both rows of a pair spread over the web workers (no worker above LOPSIDED_SHARE of their CPU)."""
    return all(row["busiest_worker_share"] <= LOPSIDED_SHARE for row in pair)


def paired_ratio(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> float:
    """The median of the balanced pairs' job GET / floor rate ratios (of every pair where none was balanced)."""
    counted = [pair for pair in pairs if balanced(pair)] or pairs
    return statistics.median(poll["rps"] / floor["rps"] for floor, poll in counted)


def paired_rows(pairs: list[tuple[dict[str, float], dict[str, float]]], clients: int) -> list[str]:
    rows = [
        f"| Floor and job GET in back-to-back pairs ({clients} clients) | Floor requests/s | Job GET requests/s "
        "| Job GET / floor | Floor server CPU ms | Job GET server CPU ms "
        "| Busiest worker's CPU share (floor, job GET) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (floor, poll) in enumerate(pairs, 1):
        rows.append(
            f"| pair {index} | {floor['rps']:.1f} | {poll['rps']:.1f} | {poll['rps'] / floor['rps']:.2f} "
            f"| {floor['server_cpu_ms']:.2f} | {poll['server_cpu_ms']:.2f} "
            f"| {floor['busiest_worker_share']:.2f}, {poll['busiest_worker_share']:.2f}"
            f"{'' if balanced((floor, poll)) else ' (lopsided: not counted)'} |"
        )
    return rows


def target_rows(
    results: dict[tuple[str, int], dict[str, float]],
    clients: int,
    pairs: list[tuple[dict[str, float], dict[str, float]]],
) -> list[str]:
    """The issue's targets at `clients` concurrent clients, each PASS or MISS. The ratio to the floor is the
    median of the back-to-back pairs (`floor_paired_with_poll`); the rows' own ratio is printed beside it."""
    floor, poll, submit = (results[name, clients] for name in ("floor", "poll", "submit"))
    ratio = paired_ratio(pairs)
    checks = [
        (f"job GET requests/s at {clients} clients", ">= 300", poll["rps"], poll["rps"] >= 300),
        (f"job GET p95 ms at {clients} clients", "<= 100", poll["p95"], poll["p95"] <= 100),
        (f"job GET / floor at {clients} clients (median of the balanced pairs)", ">= 0.5x", ratio, ratio >= 0.5),
        (
            f"job GET / floor at {clients} clients (the rows above, a minute apart)",
            "(shown)",
            poll["rps"] / floor["rps"],
            None,
        ),
        (f"submission requests/s at {clients} clients", ">= 150", submit["rps"], submit["rps"] >= 150),
        (f"submission p95 ms at {clients} clients", "<= 150", submit["p95"], submit["p95"] <= 150),
        (
            f"non-2xx answers at {clients} clients",
            "0",
            poll["failures"] + submit["failures"],
            poll["failures"] + submit["failures"] == 0,
        ),
    ]
    return [
        "| Target | Wanted | Measured | |",
        "|---|---|---:|---|",
        *(
            f"| {name} | {wanted} | {value:.2f} | {'' if met is None else 'PASS' if met else 'MISS'} |"
            for name, wanted, value, met in checks
        ),
    ]


def migrate_and_issue_token(env: dict[str, str], username: str) -> str:
    """Bring the stack's database up to date and return an API token of `username` (created if missing)."""
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    return subprocess.run(
        [PY, "manage.py", "createuser", username, "--exists-ok", "--token-only"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def web_command(server: str, port: int, web_workers: int) -> tuple[list[str], dict[str, str]]:
    if server == "uvicorn":
        return [
            PY,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ], {}
    return [PY, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.asgi:application", "--log-level", "warning"], {
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(web_workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=200, help="requests per load level (at least 4/client)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="worker processes of the end-to-end runs (none: skip them)",
    )
    parser.add_argument(
        "--paired-rounds", type=int, default=5, help="back-to-back floor and job GET pairs for the ratio target"
    )
    parser.add_argument("--jobs", type=int, default=8, help="jobs in the end-to-end run")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4, help="GENERATION_BATCH_SIZE of the workers")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "uvicorn"],
        default="gunicorn",
        help="gunicorn + uvicorn workers with the pool (production), or one uvicorn process without",
    )
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 1, help="gunicorn worker processes")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    reset_data()
    env = stack_env(args.batch_size, args.server)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    token = migrate_and_issue_token(env, "bench")
    truncate_jobs()
    processes = Processes(env, logs)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        command, extra_env = web_command(args.server, port, args.web_workers)
        processes.start("web", command, extra_env)
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
        rows = uvloop.run(bench(args, base_url, token, processes))
    finally:
        processes.stop_all()
        truncate_jobs()
    shape = (
        "uvicorn (1 process, a connection per request)"
        if args.server == "uvicorn"
        else f"gunicorn + {args.web_workers} uvicorn workers, PostgreSQL pool"
    )
    print(
        f"\nServer: {shape} on {base_url}; CPU cores: {os.cpu_count()}; "
        f"load average before: {load_before:.1f}, at the end: {os.getloadavg()[0]:.1f}\n"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
