# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create (or refresh) the project's own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: venv demo test lint bench clean proto

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prewarm simulate --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy autoscaler simulations benchmarks

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/replay_week.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

proto: $(STAMP)
	$(BIN)/python external_scaler_proto/generate.py
