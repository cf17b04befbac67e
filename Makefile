# The interface: `make example` runs the pipeline on the repo's example dumps, `make test` runs the tests,
# `make test-fast` the fast tier (pure and in-process tests) for the edit loop.
# All create .venv on first use; CI (.ci/run) runs `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= data
PIP := $(BIN)/pip
# The tested versions of every package (constraints.txt): pyproject.toml's ranges would take whatever is newest.
INSTALL := $(PIP) install --quiet -c constraints.txt

.PHONY: install example test test-fast bench constraints clean

install: $(VENV)/.installed

# What running needs (make example), then the test stack on top (make test).
$(VENV)/.runtime: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(INSTALL) -e .
	touch $@

$(VENV)/.installed: pyproject.toml constraints.txt $(VENV)/.runtime
	$(INSTALL) -e ".[dev]"
	touch $@

example: $(VENV)/.runtime
	$(BIN)/profile-etl --home $(HOME_DIR) run --inbox examples/inbox --settle-seconds 0
	$(BIN)/profile-etl --home $(HOME_DIR) sql "SELECT profile_key, owner_name, snapshots, h_index, citations FROM profiles ORDER BY citations DESC"

test: install
	$(BIN)/python -m pytest

# The fast tier for the edit loop: pure and in-process tests, without the flow and end-to-end tiers.
test-fast: install
	$(BIN)/python -m pytest -m "not flow and not e2e" --hypothesis-profile fast

# The benchmark (docs/benchmarks.md): prints numbers, writes bench/results/latest.json; BENCH_ARGS="--dumps 500" etc.
bench: install
	$(INSTALL) -e ".[dev,bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

# constraints.txt anew: pyproject.toml's dependencies resolved afresh in a scratch venv, then frozen.
constraints:
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip
	.venv-constraints/bin/pip install --quiet -e ".[dev,bench]"
	grep '^#' constraints.txt > .constraints.new
	.venv-constraints/bin/pip freeze --exclude-editable >> .constraints.new
	mv .constraints.new constraints.txt && rm -rf .venv-constraints

clean:
	rm -rf $(VENV) $(HOME_DIR) .pytest_cache
