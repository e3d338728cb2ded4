# twinemu — the two commands a newcomer needs:
#   make run    create .venv if missing, install, run the default experiment
#   make test   create/update .venv the same way, run the test suite
# Both are idempotent: .venv is reused while pyproject.toml is unchanged.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.twinemu-installed
# A local wheel folder (CPU torch) is used when the machine has one.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup browser run test test-slow test-all lint bench clean help

help:
	@echo "make setup      create .venv and install twinemu with its extras"
	@echo "make run        run the default experiment (ARGS='design.n_train=96' to override)"
	@echo "make test       run the test suite (slow suites excluded)"
	@echo "make test-slow  run the slow accuracy suites"
	@echo "make lint       ruff"
	@echo "make bench      run the benchmarks (tables + JSON in benchmarks/results/)"

setup: $(STAMP) browser

# Headless Chromium (Debian's package) for the test that opens the HTML report; installed
# when this machine allows it (root and apt-get), else that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
	  || echo "note: chromium not installed; the HTML report's browser test will skip"; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e ".[full,test]"
	@touch $(STAMP)

run: setup
	$(BIN)/twinemu run $(ARGS)

test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# pytest exits 5 when no test is selected: fine for the optional slow suites.
test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

test-all: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
