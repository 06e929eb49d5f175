# Bridge: `make run` starts the whole portal with demo data; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run install test lint security docs clean

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runportal

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

security: install
	$(BIN)/bandit -q -c pyproject.toml -r portal catalog provisioning pipelines knowledge
	$(BIN)/pip-audit --progress-spinner off --skip-editable

docs: install
	$(BIN)/mkdocs build --strict --site-dir var/site

clean:
	rm -rf $(VENV) var
