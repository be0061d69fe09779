# diffclust developer commands. `make help` lists them.
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: help install run test test-full lint format denoise bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -e '.[dev]'
	touch $(VENV_STAMP)

install: $(VENV_STAMP)  ## create .venv with the project and the dev tools

run: $(VENV_STAMP)  ## the main job on embedded data: LeNet + forest head on scikit-learn's digits
	.venv/bin/diffclust train +experiment=digits_full

test: $(VENV_STAMP)  ## the fast test suite (what CI runs), one worker per core
	$(PY) -m pytest -q -n auto -m "not slow"

test-full: $(VENV_STAMP)  ## every test, slow ones included
	$(PY) -m pytest -q -n auto

lint: $(VENV_STAMP)  ## ruff check and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: $(VENV_STAMP)  ## apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

denoise: $(VENV_STAMP)  ## the forest paper's synthetic denoising experiment (appendix §11)
	.venv/bin/diffclust train +experiment=denoise

bench: $(VENV_STAMP)  ## forest solver benchmark, one JSON line per case
	$(PY) scripts/bench_forest.py

clean:  ## remove the virtual environment and caches
	rm -rf .venv .pytest_cache .ruff_cache .hypothesis .cache
