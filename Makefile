# Two commands do everything: `make lab` (learn) and `make test` (check). See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888
IP ?= 127.0.0.1
STAMP := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)  # containers and Binder often run as root
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600

.PHONY: install browser lab test test-unit test-notebooks test-seeds check-seeds bench pretrain pretrain-ssl lint execute student slides quizzes clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the pinned requirements

lab: install  ## start JupyterLab on notebooks/ (PORT=8888, IP=127.0.0.1 by default)
	@echo "Starting JupyterLab on http://$(IP):$(PORT)/lab  (the URL with its token follows; Ctrl-C stops it)"
	$(BIN)/jupyter lab --no-browser --ip=$(IP) --port=$(PORT) --ServerApp.root_dir=notebooks $(ROOT_FLAG)

browser:  ## Debian's Chromium for the browser test (installed with apt-get when run as root)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else \
	    echo "No chromium: the browser test will be skipped. Install your system's chromium package to run it."; \
	  fi; }

test: install browser  ## unit tests, the browser test, then every notebook through nbval, all with the network cut
	tests/offline.sh $(BIN)/python -m pytest tests $(NBVAL) notebooks

test-unit: install browser
	tests/offline.sh $(BIN)/python -m pytest tests

test-notebooks: install
	tests/offline.sh $(BIN)/python -m pytest $(NBVAL) notebooks

check-seeds: install  ## every notebook's asserted claims with COURSE_SEED=1..3, and which held (slow)
	$(BIN)/python bench/run_notebooks.py --seeds 1 2 3

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

slides: install  ## reveal.js slides of every notebook in build/slides (FORCE=1 as for student)
	$(BIN)/python -m course_utils.classroom slides build/slides $(if $(FORCE),--force)

quizzes: install  ## validate every quiz bank in data/quizzes
	$(BIN)/python -m course_utils.quiz validate

lint: install
	$(BIN)/ruff check course_utils tests bench notebooks

clean:
	rm -rf data/cache .pytest_cache build
