# The README's two commands: `make demo` and `make test`. Everything else is set up from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Locks (requirements/*.lock, exact versions with hashes), resolved for the worker image's
# platform: CPython 3.11 on x86_64 Linux. `make lock` updates them after a change to
# pyproject.toml, keeping every pin that still fits; `make lock-upgrade` moves all to the newest.
UV_VERSION := 0.13.9
UV_COMPILE  = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
              --python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock'

.PHONY: setup demo test unit integration lint bench soak clean lock lock-upgrade install-size

# The dev/CI set: the locked core, both extras and the test tools, then this tree (editable)
# without resolving anything further.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
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
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

bench: setup
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/analyst.py

# Wheel size, installed size of the core vs the extras in fresh venvs, CLI start time
# (downloads from PyPI; not part of `make test`).
install-size: setup
	$(BIN)/python bench/install_size.py

# About 2.5 minutes on a 2-core machine: 20 SIGKILLs while 55,006 events flow (2 % invalid,
# 2 % upstream duplicates), then exact accounting (not part of `make test`; docs/benchmarks.md).
soak: setup
	$(BIN)/python -m tests.soak.run

lock lock-upgrade:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) pyproject.toml \
	    -o requirements/worker.lock
	$(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) pyproject.toml \
	    --extra dev --extra embedded --extra demo -o requirements/dev.lock
	$(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) requirements/build.in \
	    -o requirements/build.lock

clean:
	-$(BIN)/contactstream broker stop
	rm -rf $(VENV) .contactstream .mypy_cache .ruff_cache .pytest_cache .hypothesis
