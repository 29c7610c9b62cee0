# make run   — set up what running needs on first use, then serve the admin site, with its
#              delivery worker as a process of its own beside it (Procfile, run by honcho;
#              Ctrl-C stops both)
# make test  — set up everything on first use, the test toolchain too, then lint and run the
#              whole test suite on TEST_WORKERS pytest-xdist workers (`make test TEST_WORKERS=0`
#              runs it in one process)
# make suite — the test suite alone, without the lint (CI's second run, on PostgreSQL)
# make soak — the receiver chaos soak (a few minutes): 25,000 deliveries through failing
#             receivers while workers are killed; not part of `make test`

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000
# Every process of `make run` writes its metrics here, so /metrics adds them up (emptied at start).
METRICS_DIR ?= $(CURDIR)/instance/metrics
# Test processes (pytest-xdist workers): 3 keeps a 2-core machine busy while tests wait on
# receivers, workers and Chromium (measured in docs/testing.md); the timing-sensitive tests
# share one of them, the browser tests another (tests/conftest.py).
TEST_WORKERS ?= 3

.PHONY: run test suite soak lint install install-test db clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# What running needs; the test toolchain (pytest, Playwright, schemathesis, ruff, ...) only
# for `make test`.
$(VENV)/.installed: $(BIN)/activate setup.cfg constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# The translations the site serves are compiled from the committed catalogues (.po) on install.
CATALOGUES   := $(wildcard webhooks/translations/*/LC_MESSAGES/messages.po)
TRANSLATIONS := $(CATALOGUES:.po=.mo)

webhooks/translations/%/LC_MESSAGES/messages.mo: webhooks/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile -d webhooks/translations -l $*

install: $(VENV)/.installed $(TRANSLATIONS)

# axe-core for the browser tests' accessibility checks, from npm at the locked version.
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	npm ci --prefix tests/browser/axe --no-audit --no-fund --silent
	touch $@

install-test: install $(VENV)/.installed-test $(AXE)

db: install
	$(FLASK) db upgrade

# A busy port is said in one line before anything is announced.
run: install
	@$(BIN)/python -m webhooks.port_check $(HOST) $(PORT)
	$(FLASK) db upgrade
	$(FLASK) admin bootstrap
	@echo "Serving the admin site on http://$(HOST):$(PORT)/, its delivery worker beside it (Ctrl-C stops both)"
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) HOST=$(HOST) PORT=$(PORT) $(BIN)/honcho start

lint: install-test
	$(BIN)/ruff check .

test: lint suite

suite: install-test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15

soak: install-test
	$(BIN)/pytest -m soak tests/soak

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info tests/browser/axe/node_modules
