# mlenv — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mlenv-installed

.PHONY: demo test lint typecheck unit bench mutation fuzz install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: offline plan and policy check of the dev stack (no cloud account, no Pulumi CLI)
demo: $(STAMP)
	$(BIN)/mlenv plan dev
	$(BIN)/mlenv check dev

## test: lint, type-check and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

## bench: plan and check at 150-2,000 resources, floors, Checkov peer (benchmarks/README.md); a few minutes
BENCH_REPEAT ?= 1
bench: $(STAMP)
	$(BIN)/python -m benchmarks.plan --repeat $(BENCH_REPEAT)
	$(BIN)/python -m benchmarks.check --repeat $(BENCH_REPEAT)
	$(BIN)/python -m benchmarks.time_to_first_gpu

## mutation: weaken each hardening default in a temp copy and print the suite's kill rate (slow; not in test)
mutation: $(STAMP)
	$(BIN)/python -m benchmarks.mutation

## fuzz: seeded mutations of the dev/prod stack files; prints false accepts and unexpected exits
fuzz: $(STAMP)
	$(BIN)/python -m benchmarks.fuzz_stacks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
