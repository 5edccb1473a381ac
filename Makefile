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
LINT_PATHS := course_utils tests bench notebooks hub
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)  # containers and Binder often run as root
# nbval's other options are in pyproject.toml. Printed outputs are compared on the platform that recorded them;
# elsewhere every cell must run and every assert hold (COURSE_NBVAL=strict|lax|auto, default auto: see README).
NBVAL := --nbval

.PHONY: install install-lab browser slides-deps hub-deps hub hub-stop hub-collect test-hub lab test test-unit test-notebooks test-seeds check-seeds bench pretrain pretrain-ssl lint execute student slides quizzes clean

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

# The class's JupyterHub (see README's "Teaching a class"): its state (database, passwords, learners' homes) in HUB_DIR.
HUB_DIR ?= hub/state
NOTEBOOKS ?= student
HUB_STAMP := $(VENV)/.installed-hub
HUB_PROXY := hub/node_modules/.package-lock.json

$(HUB_STAMP): $(LAB_STAMP) requirements-hub.txt constraints.txt
	$(PIP) install -r requirements-hub.txt -c constraints.txt
	touch $@

$(HUB_PROXY): hub/package.json hub/package-lock.json
	npm ci --prefix hub --ignore-scripts --no-audit --no-fund

hub-deps: $(HUB_STAMP)  ## JupyterHub into .venv (requirements-hub.txt) and its proxy from npm into hub/node_modules
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s --no-print-directory $(HUB_PROXY); \
	else echo "No npm: the hub cannot start (and its test is skipped); install Node.js 20 or newer, with npm."; fi

hub: hub-deps  ## serve the course to a class with JupyterHub (IP=127.0.0.1 PORT=8888, NOTEBOOKS=student|full)
	COURSE_HUB_DIR=$(HUB_DIR) COURSE_HUB_IP=$(IP) COURSE_HUB_PORT=$(PORT) COURSE_HUB_NOTEBOOKS=$(NOTEBOOKS) \
	  $(BIN)/python hub/course_hub.py

hub-stop:  ## end of the day, after Ctrl-C on the hub: stop every learner's server and the hub's proxy
	COURSE_HUB_DIR=$(HUB_DIR) $(BIN)/python hub/course_hub.py stop

hub-collect: install-lab  ## the class's progress files into HUB_DIR/collected, then one CSV of every attempt
	$(BIN)/python -m course_utils.progress collect $(HUB_DIR)/homes $(HUB_DIR)/collected $(if $(FORCE),--force); \
	  status=$$?; [ $$status -le 1 ] || exit $$status; set -- $(HUB_DIR)/collected/*.json; \
	  if [ ! -e "$$1" ]; then echo "No learner has answered a quiz yet: no CSV written."; exit 0; fi; \
	  $(BIN)/python -m course_utils.progress export $(HUB_DIR)/class-$$(date +%Y%m%d-%H%M%S).csv "$$@"

test-hub: install browser hub-deps  ## the hub test alone: three learners in headless Chromium, a restart, the export
	tests/offline.sh $(BIN)/python -m pytest tests/test_hub.py

test: install browser slides-deps hub-deps  ## unit tests, the browser and hub tests, then every notebook through nbval, all with the network cut
	tests/offline.sh $(BIN)/python -m pytest tests $(NBVAL) notebooks

test-unit: install browser slides-deps hub-deps  ## the unit tests, the browser test and the hub test
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
