# OSA's two commands: `make demo` runs the product on its embedded default
# (SQLite, no server to install; `make demo ARGS=--simulate` makes invitees answer);
# `make test` runs the tests (bringing its own PostgreSQL and Redis when none answer);
# `make test-fast` leaves out the slow end-to-end tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast install

$(BIN)/osa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/osa

demo: $(BIN)/osa
	$(BIN)/osa demo $(ARGS)

test: $(BIN)/osa
	$(BIN)/python -m pytest

test-fast: $(BIN)/osa
	$(BIN)/python -m pytest -m "not slow"
