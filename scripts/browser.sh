#!/usr/bin/env bash
# `make test` needs Debian's Chromium for the browser test of the API docs (tests/api/test_docs_browser.py):
# Playwright drives /usr/bin/chromium; it never downloads a browser of its own.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  echo "browser: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version >&2
