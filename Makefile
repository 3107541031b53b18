# The two quick-start commands: `make run` and `make test`. Each builds the virtual environment it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Start the daemon on the bundled example content (SQLite, Maildir, HTTP on 127.0.0.1:8080).
run: $(STAMP)
	$(BIN)/publisher --config examples/publisher.toml run

## Run the whole test suite, the linter and the type checker (strict).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict publisher
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Benchmarks (minutes, not part of the tests): builds beside Hugo, SMTP beside smtp-source, publish latency.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/build.py
	$(BIN)/python bench/smtp.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) examples/state examples/public .pytest_cache .hypothesis
