# Bridge: `make run` starts the whole portal with demo data; `make test` runs the tests.
#
#   make run [HOST=0.0.0.0] [PORT=8080]  installs the runtime only (requirements.lock), then starts
#   make test                            installs the runtime and the development tools first
#   make lock                            rewrites the lock files after requirements*.txt changed
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Plain assignments, not ?=: a HOST or PORT exported by the shell (zsh sets HOST to the
# machine's name) must not move the portal; `make run HOST=... PORT=...` does.
HOST = 127.0.0.1
PORT = 8000
# uv installs the locked requirements: parallel downloads, no bytecode compiled up front.
UV_VERSION = 0.13.8
UV := $(BIN)/uv
UV_INSTALL = $(UV) pip install --quiet --python $(BIN)/python --require-hashes
UV_COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11.5 --generate-hashes \
	--custom-compile-command "make lock"

.PHONY: run install install-dev test lint security docs lock lock-check clean

# Migrations, demo data, then web server, worker and beat (runportal --demo does all of it).
run: install
	$(BIN)/python manage.py runportal --demo --host $(HOST) --port $(PORT)

# The portal's runtime (requirements.txt, locked in requirements.lock).
install: $(VENV)/.installed-runtime

# The runtime plus tests, lint, security and benchmark tools (requirements-dev.txt).
install-dev: $(VENV)/.installed-dev

# The virtualenv, with uv in it. The machine's pip puts uv there when it can (pip 22.3+), which
# spares seeding pip into the new virtualenv first (the slowest step of a fresh install);
# otherwise the virtualenv gets its own pip, which installs uv. Then `$(UV) pip install ...`
# (not pip) adds a package by hand.
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))' 2>/dev/null || { \
	  echo "Bridge needs Python 3.11.5 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)." \
	    "Choose another: make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
	  || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }

$(VENV)/.installed-runtime: requirements.lock | $(UV)
	$(UV_INSTALL) -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed-runtime
	$(UV_INSTALL) -r requirements-dev.lock
	touch $@

# Every package of each set, pinned with hashes. The development set is resolved with the
# runtime lock as constraints, so both install the same version of anything they share.
# Versions already in a lock file are kept; `make lock UPGRADE=1` looks for newer ones.
lock: | $(UV)
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements.txt -o requirements.lock
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

# Fails when a requirements*.txt file changed without `make lock` (used by .ci/run).
lock-check: | $(UV)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp requirements.lock requirements-dev.lock "$$tmp"/ && \
	$(UV_COMPILE) requirements.txt -o "$$tmp/requirements.lock" && \
	$(UV_COMPILE) requirements-dev.txt -c requirements.lock -o "$$tmp/requirements-dev.lock" && \
	for lock in requirements.lock requirements-dev.lock; do \
	  cmp -s "$$lock" "$$tmp/$$lock" || { echo "$$lock is out of date: run 'make lock' and commit it."; \
	    diff -u "$$lock" "$$tmp/$$lock" | grep '^[-+][a-zA-Z]' | head -20; exit 1; }; \
	done; echo "lock files match requirements.txt and requirements-dev.txt"

# The tests run in TEST_PROCESSES parallel processes (pytest-xdist; one per core by default), a test
# file per process at a time. `make test TEST_PROCESSES=0` runs them in this one process.
TEST_PROCESSES = auto
test: install-dev
	$(BIN)/pytest $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadfile) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pip-audit checks both locked sets (every package, not only the direct pins).
security: install-dev
	$(BIN)/bandit -q -c pyproject.toml -r portal catalog provisioning pipelines knowledge scaffolder incidents
	$(BIN)/pip-audit --progress-spinner off --disable-pip -r requirements.lock
	$(BIN)/pip-audit --progress-spinner off --disable-pip -r requirements-dev.lock

docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir var/site

clean:
	rm -rf $(VENV) var
