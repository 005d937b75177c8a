# The README's two commands: `make demo` and `make test`. Everything else is set up from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test unit integration lint bench soak clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,demo]'
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/contactstream demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit -q

integration: setup
	$(BIN)/pytest tests/integration -q

test: lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/analyst.py

# About 5 minutes: 20 SIGKILLs over 52,000 events, exact accounting (not part of `make test`).
soak: setup
	$(BIN)/python -m tests.soak.run

clean:
	-$(BIN)/contactstream broker stop
	rm -rf $(VENV) .contactstream .mypy_cache .ruff_cache .pytest_cache .hypothesis
