# Two commands on a fresh machine (only python3 and make needed):
#   make demo   simulate a small collection network and run one night on it
#   make test   lint, type-check, dependency contracts, then the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint typecheck contracts unit bench reliability lock clean \
	check-lerobot check-replay-buffer check-exports notebooks

# Bytecode is compiled once here (as pip does, uv does not by default): where
# PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile some 1,600 modules
# from source when it starts (about 2.5 CPU-s of a night's fixed cost, again in each batch
# worker).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip sync --python $(BIN)/python --compile-bytecode requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q src flows datalake_schemas
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/teleop-lake demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck contracts unit

bench: $(STAMP)
	$(BIN)/teleop-lake bench decode
	$(BIN)/teleop-lake bench clean
	$(BIN)/teleop-lake bench spikes

# Damaged recordings (1,000, four formats), hostile drops through a traced night and kill -9
# at every write point; prints a table, exits 1 if a target is missed (about half an hour).
# Optional tier: open exports with the partners' own stacks, each in its own environment
# (.venv-lerobot: LeRobot 0.4.4 on CPU torch, ~1.5 GB; .venv-zarr2: zarr 2.x + imagecodecs).
# check-lerobot also opens the replay buffer with zarr 2.x: both partner stacks in one run.
check-lerobot: $(STAMP)
	bash tests/partner/run_checks.sh all

check-replay-buffer: $(STAMP)
	bash tests/partner/run_checks.sh replay-buffer

check-exports: $(STAMP)
	bash tests/partner/run_checks.sh all

# Run the notebooks against the demo's lake (after `make demo`); no Jupyter needed.
notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

reliability: $(STAMP)
	$(BIN)/python tests/reliability/run.py

# Re-resolve the locked dependency set after editing pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .venv-lerobot .venv-zarr2 .pytest_cache .mypy_cache .ruff_cache demo-output
