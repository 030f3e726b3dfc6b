# merlib: the two commands of the README, and the set-up they share.
#
#   make reproduce   set up .venv if needed, then execute every notebook at the standard size
#                    (SIZE=quick|standard|full; QUICK=1 is SIZE=quick)
#   make test        set up .venv if needed, then pytest on tests/ + every notebook in quick mode (nbval)
#
# Set-up is idempotent: .venv is (re)installed only when requirements*.txt or pyproject.toml change.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.merlib-installed
OUT    ?= runs
QUICK  ?=
SIZE   ?= standard
NOTEBOOKS ?=
PYTEST_ARGS ?=

.PHONY: setup reproduce test bench clean-venv notebooks-papermill

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "merlib environment ready in $(VENV)"

reproduce: setup
	$(PY) -m merlib reproduce $(NOTEBOOKS) --size $(if $(QUICK),quick,$(SIZE)) --out $(OUT)

# One torch/OpenMP thread per process in the suite: its kernels are small, and on a 2-core machine two
# threads per process fight with the notebook kernel and Ray/pool workers (measured: 11 min -> about 3 min
# for the suite on a loaded machine). Override with `make test OMP_NUM_THREADS=2`.
OMP_NUM_THREADS ?= 1
test: setup
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) MERLIB_QUICK=1 MERLIB_RUN_SIZE=quick $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -ra $(PYTEST_ARGS)

# every notebook once through papermill (as `make reproduce` runs them), quick size, under a time limit:
# a stalled cell fails the run naming the cell (--cell-timeout), and the whole step is bounded too.
NOTEBOOK_RUN_LIMIT ?= 1800
notebooks-papermill: setup
	OMP_NUM_THREADS=$(OMP_NUM_THREADS) timeout $(NOTEBOOK_RUN_LIMIT) $(PY) -m merlib reproduce --quick --cell-timeout 600 \
		--out $(or $(CI_RUNS),runs/ci) --no-progress

bench: setup
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
