# Everything runs inside .venv, created on first use from python3 (>= 3.11).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NO_MKDOCS_2_WARNING := 1
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck docs docs-serve pytest serve bench soak clean

# The stamp records the interpreter the venv was made with. A venv made with another
# Python (older than 3.11, or since upgraded or switched) is made again, saying why.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)
ifneq ($(wildcard $(STAMP)),)
STAMPED := $(shell cat $(STAMP))
VENV_VERSION := $(shell $(PY) -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)
ifneq ($(STAMPED) $(VENV_VERSION),python-$(PYTHON_VERSION) $(PYTHON_VERSION))
STALE := venv-stale
endif
endif

.PHONY: venv-stale
venv-stale:
	@echo "$(VENV) was made with $(or $(STAMPED),an unrecorded Python) (it runs $(or $(VENV_VERSION),nothing));" \
	      "$(PYTHON) is $(or $(PYTHON_VERSION),missing): making $(VENV) again"

$(STAMP): pyproject.toml $(STALE)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "discobase needs Python >= 3.11, and $(PYTHON) is $(or $(PYTHON_VERSION),missing):" \
		     "run make PYTHON=python3.11 (or newer)"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,docs]"
	echo "python-$(PYTHON_VERSION)" > $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: lint typecheck docs pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src cogs tests examples benchmarks tools docs/examples
	$(VENV)/bin/ruff format --check src cogs tests examples benchmarks tools docs/examples
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir .site

pytest: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider

serve: $(STAMP)
	$(VENV)/bin/discobase local serve

# discobase against discobase 1.0.0 and DiscordBase 0.1.0 (installed into
# benchmarks/.baseline-venv and benchmarks/.discordbase-venv on first use) and against Discord's rate limits, then one table at 100,000 records against SQLite
# (benchmarks.scale); regenerates docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m benchmarks --write-docs --scale-records 100000,1000000

# The model-based soak and crash trials (long, not in CI): writer processes with seeded
# random operations, injected faults, >= 100 kill -9 of writers and >= 30 of the server,
# checked against their journals; prints a summary at the end (tests/soak/README.md).
# SOAK_SEED, SOAK_WRITER_KILLS, SOAK_SERVER_KILLS and SOAK_MATRIX_RUNS change it.
soak: $(STAMP)
	DISCOBASE_SOAK=1 $(VENV)/bin/pytest -p no:cacheprovider -m slow -s -q tests/soak

clean:
	rm -rf $(VENV) .site .mypy_cache .ruff_cache .pytest_cache
