# The two commands a newcomer runs: `make book` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp's name carries the hash of what the environment is made from, so an unchanged
# environment is never reinstalled and a changed pin always is.
ENV_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.installed-$(ENV_HASH)
PROFILE ?= cpu
# SEEDS=N: seeds of the core contrasts (default: the profile's, 1 for cpu); `make book SEEDS=3` (intervals over seeds) trains 8 more runs: add PLAN=1 for the minutes here
SEEDS ?=
# PLAN=1: say what would be rendered, trained and reused, and the estimated minutes here, then stop
PLAN ?=
REPRODUCE = $(BIN)/ma52 reproduce --profile $(PROFILE)$(if $(SEEDS), --seeds $(SEEDS))$(if $(PLAN), --plan)

.PHONY: setup test test-fast book book-study book-smoke bench clean help

help:
	@echo "make book   build the Jupyter Book on MA-52-Synth (profile $(PROFILE)); prints where index.html is"
	@echo "make test   run the linter (ruff) and the test suite"
	@echo "make book PLAN=1 (what would be trained and reused, and the minutes it takes here; trains nothing)"
	@echo "make book SEEDS=3 (3 seeds of TSN, TSM, MANet and MANet without the loss: 8 more runs; with PLAN=1 the minutes here)"
	@echo "make book-study (the book plus the recipe study's runs) / make book-smoke / make bench / make clean"

setup: $(STAMP)

# A new .venv holds the pinned torch, a CUDA build (~6.4 GB), and pip unpacks through TMPDIR: with less
# free space than this, stop before pip does with "No space left on device" minutes into the install.
VENV_NEED_GB ?= 8

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || for dir in . "$${TMPDIR:-/tmp}"; do \
	  free=$$(df -Pk "$$dir" | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	  if [ "$$free" -lt $(VENV_NEED_GB) ]; then \
	    echo "error: a new $(VENV) needs about $(VENV_NEED_GB) GB free; $$dir has $$free GB (df -h $$dir)." \
	         "Free some space (old clones' .venv, runs/, data/) and rerun." >&2; exit 1; fi; done
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "environment ready: $(VENV) ($(ENV_HASH))"

test: $(STAMP)
	$(BIN)/ruff check ma52lib tests scripts examples
	$(BIN)/python -m pytest -q --durations=15

book: $(STAMP)
	$(REPRODUCE)

book-study: $(STAMP)
	$(REPRODUCE) --study

book-smoke: $(STAMP)
	$(BIN)/ma52 reproduce --profile smoke$(if $(PLAN), --plan)

bench: $(STAMP)
	$(BIN)/ma52 bench

clean:
	rm -rf _build book/generated
