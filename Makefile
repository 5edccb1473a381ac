# Two commands do everything: `make lab` (learn) and `make test` (check). See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888
IP ?= 127.0.0.1
# Installed sets: LAB_STAMP the course (requirements.txt: make lab), STAMP the course plus the tools of
# make test, bench and lint (requirements-dev.txt). One venv holds both.
LAB_STAMP := $(VENV)/.installed-lab
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip
LINT_PATHS := course_utils tests bench notebooks
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)  # containers and Binder often run as root
# nbval's other options are in pyproject.toml. Printed outputs are compared on the platform that recorded them;
# elsewhere every cell must run and every assert hold (COURSE_NBVAL=strict|lax|auto, default auto: see README).
NBVAL := --nbval

.PHONY: install install-lab browser slides-deps lab test test-unit test-notebooks test-seeds check-seeds bench pretrain pretrain-ssl lint execute student slides quizzes clean

# constraints.txt pins every package at the version that produced the notebooks' outputs.
$(LAB_STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -r requirements.txt -c constraints.txt -e .
	touch $@

$(STAMP): $(LAB_STAMP) requirements-dev.txt
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	touch $@

install-lab: $(LAB_STAMP)  ## create .venv and install the course (the pinned requirements.txt and the package)

install: $(STAMP)  ## the same, plus the tools for the tests, benchmarks and lint (requirements-dev.txt)

lab: install-lab  ## start JupyterLab on notebooks/ (PORT=8888, IP=127.0.0.1 by default)
	@echo "Starting JupyterLab on http://$(IP):$(PORT)/lab  (the URL with its token follows; Ctrl-C stops it)"
	$(BIN)/jupyter lab --no-browser --ip=$(IP) --port=$(PORT) --ServerApp.root_dir=notebooks $(ROOT_FLAG)

browser:  ## Debian's Chromium for the browser test (installed with apt-get when run as root)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else \
	    echo "No chromium: the browser test will be skipped. Install your system's chromium package to run it."; \
	  fi; }

SLIDES_DEPS := vendor/node_modules/.package-lock.json

$(SLIDES_DEPS): vendor/package.json vendor/package-lock.json
	npm ci --prefix vendor --ignore-scripts --no-audit --no-fund

slides-deps:  ## the JavaScript the slides load (reveal.js, MathJax, ...) into vendor/node_modules, for offline slides
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s --no-print-directory $(SLIDES_DEPS); \
	else echo "No npm: the slides will load reveal.js and MathJax from the internet; install Node.js (npm) for offline slides."; fi

test: install browser slides-deps  ## unit tests, the browser test, then every notebook through nbval, all with the network cut
	tests/offline.sh $(BIN)/python -m pytest tests $(NBVAL) notebooks

test-unit: install browser slides-deps  ## the unit tests and the browser test
	tests/offline.sh $(BIN)/python -m pytest tests

test-notebooks: install  ## every notebook through nbval (pytest's header says whether outputs are compared)
	tests/offline.sh $(BIN)/python -m pytest $(NBVAL) notebooks

check-seeds: install  ## every notebook's claims with COURSE_SEED=0..3, their margins written to bench/CLAIMS.md (slow)
	$(BIN)/python bench/run_notebooks.py --seeds 0 1 2 3 --claims-md bench/CLAIMS.md

test-seeds: check-seeds

bench: install  ## per-notebook time and peak memory, the speed ratios, against the targets; writes bench/RESULTS.md
	$(BIN)/python bench/report.py --results bench/RESULTS.md

pretrain: install  ## rebuild data/glyphnet.pt (a few minutes)
	$(BIN)/python -m course_utils.pretrain

pretrain-ssl: install  ## rebuild data/simclr.pt and data/masked.pt, their claims measured for 3 seeds (about 10 minutes)
	$(BIN)/python -m course_utils.pretrain_ssl simclr --seed 0
	$(BIN)/python -m course_utils.pretrain_ssl masked --seed 0

execute: install  ## re-execute every notebook in place (after changing one)
	$(BIN)/python bench/run_notebooks.py --write

student: install  ## solution-free student copies in build/student (FORCE=1 overwrites edited copies)
	$(BIN)/python -m course_utils.classroom student build/student $(if $(FORCE),--force)

slides: install slides-deps  ## reveal.js slides of every notebook in build/slides (FORCE=1 as for student)
	$(BIN)/python -m course_utils.classroom slides build/slides $(if $(FORCE),--force)

quizzes: install  ## validate every quiz bank in data/quizzes
	$(BIN)/python -m course_utils.quiz validate

lint: install  ## ruff's lint rules and its formatting (check only: `ruff format $(LINT_PATHS)` applies it)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

clean:
	rm -rf data/cache .pytest_cache build
