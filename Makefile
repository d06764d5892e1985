# Two commands: `make run` (server on the embedded default) and `make test` (the whole suite).
# Installs come from the lock files in requirements/ (hashes checked); `make lock` refreshes them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.lock.txt
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url \
           --no-emit-find-links --strip-extras

.PHONY: run test lint install lock clean bench

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/beacon serve --demo $(ARGS)

test: $(STAMP)
	$(BIN)/pytest -n auto --dist worksteal --durations=25
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Re-resolve every dependency (newest releases allowed by pyproject.toml) for Python 3.11 on
# Linux and rewrite both lock files; commit them with the pyproject.toml change.
lock: $(STAMP)
	$(COMPILE) -o requirements/lock.txt pyproject.toml
	$(COMPILE) --extra dev -o $(LOCK) pyproject.toml

clean:
	rm -rf $(VENV) var
