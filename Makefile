# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint install install-test migrate serve clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

migrate: install
	$(BIN)/python -m subsvc.devsecrets
	$(BIN)/flask db upgrade
	$(BIN)/flask seed tiers

# gunicorn.conf.py reads BIND (default 127.0.0.1:${PORT:-8000}), WORKERS and THREADS.
serve:
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

run: migrate serve

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (style, import order, bugbear) over the repository and mypy --strict over subsvc/;
# both read their settings from pyproject.toml.
lint: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache .hypothesis

# subsvc against a minimal receiver under gunicorn and wrk; writes docs/performance.md.
# Postgres too when TEST_DATABASE_URL is set. BENCH_ARGS passes options (python -m bench.run -h).
bench: install-test
	bench/ensure-wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"
