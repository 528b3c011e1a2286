# Everything runs inside .venv, created on first use from python3 (>= 3.11).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NO_MKDOCS_2_WARNING := 1
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck docs docs-serve pytest serve bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,docs]"
	touch $(STAMP)

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

# discobase against discobase 1.0.0 (installed into benchmarks/.baseline-venv on first use)
# and against Discord's rate limits; regenerates docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m benchmarks --write-docs

# The model-based soak and crash trials (long, not in CI): writer processes with seeded
# random operations, injected faults, >= 100 kill -9 of writers and >= 30 of the server,
# checked against their journals; prints a summary at the end (tests/soak/README.md).
# SOAK_SEED, SOAK_WRITER_KILLS, SOAK_SERVER_KILLS and SOAK_MATRIX_RUNS change it.
soak: $(STAMP)
	DISCOBASE_SOAK=1 $(VENV)/bin/pytest -p no:cacheprovider -m slow -s -q tests/soak

clean:
	rm -rf $(VENV) .site .mypy_cache .ruff_cache .pytest_cache
