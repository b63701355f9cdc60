#!/usr/bin/env bash
# `make run`: start the service on this machine and print its URL and a demo token.
#
# With PostgreSQL and Redis (scripts/services.sh starts them when it can): gunicorn with uvicorn workers (ASGI,
# for streaming; one per CPU core, config/gunicorn.py), one Celery worker (prefork, concurrency 1: the model is loaded once in its process) and celery beat (the
# sweep that re-queues stale jobs). Without them, or with EMBEDDED=1: a SQLite file under var/ and jobs run
# in a thread pool inside the server process. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DEBUG="${DEBUG:-1}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# PostgreSQL connections come from Django's pool in each web process (config/settings.py, DB_POOL_MAX_SIZE).
mkdir -p var

if [ "${EMBEDDED:-0}" != 1 ] && bash scripts/services.sh; then
  mode=workers
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/principled}"
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  "$PY" - <<'PYTHON'
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

url = urlsplit(os.environ["DATABASE_URL"])
name = url.path.lstrip("/")
with psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True) as connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        connection.execute(f'CREATE DATABASE "{name}"')
PYTHON
else
  mode=embedded
  unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
  # Jobs run inside the web process (and the model is loaded there): one web process.
  export WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}"
fi

"$PY" manage.py migrate --noinput >/dev/null
TOKEN=$("$PY" manage.py createuser demo --exists-ok --token-only)

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "$mode" = workers ]; then
  "$PY" -m celery -A config.celery_app worker -Q generation,callbacks --pool prefork --concurrency 1 \
    -n "worker1@%h" --loglevel INFO >var/worker.log 2>&1 &
  pids+=($!)
  "$PY" -m celery -A config.celery_app beat --loglevel INFO -s var/celerybeat-schedule >var/beat.log 2>&1 &
  pids+=($!)
fi
BIND="$HOST:$PORT" "$PY" -m gunicorn -c config/gunicorn.py config.asgi:application --log-level warning &
pids+=($!)

for _ in $(seq 1 120); do
  if "$PY" -c "import urllib.request, sys; urllib.request.urlopen('http://$HOST:$PORT/healthz', timeout=2)" \
      2>/dev/null; then break; fi
  sleep 0.5
done

URL="http://$HOST:$PORT"
cat <<BANNER

  Principled is running ($mode mode) at $URL
  API docs:   $URL/api/docs/
  Demo token: $TOKEN
  Logs:       $( [ "$mode" = workers ] && echo "var/worker.log, var/beat.log" || echo "this terminal" )

  Try it (the first reply also loads the model):
    curl -s -H "Authorization: Token $TOKEN" -H 'Content-Type: application/json' \\
      -d '{"messages":[{"role":"user","content":"Hello!"}],"max_tokens":32}' $URL/api/v1/chat/completions

  Press Ctrl-C to stop.
BANNER

# The main job: give the demo user a principle (once) and show one aligned reply straight away.
"$PY" - "$URL" "$TOKEN" <<'PYTHON' || echo "  (the demo reply did not come back; see the logs above)"
import json
import sys
import urllib.request

url, token = sys.argv[1], sys.argv[2]


def call(method, path, body=None, timeout=30):
    request = urllib.request.Request(
        url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


principle = "Answer in one short sentence, like a pirate."
if not call("GET", "/api/v1/principles/?active=true")["results"]:
    call("POST", "/api/v1/principles/", {"text": principle})
question = "What is the capital of France?"
print(f"  Demo: the demo user's principle is {principle!r}; asking {question!r} ...", flush=True)
reply = call("POST", "/api/v1/chat/completions",
             {"messages": [{"role": "user", "content": question}], "max_tokens": 48}, timeout=300)
print("  Aligned reply:", reply["choices"][0]["message"]["content"].strip(), "\n", flush=True)
PYTHON

wait -n "${pids[@]}"
