# Helpdesk KB: `make run` sets everything up and serves the portal; `make test` sets up and runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export FLASK_APP := wsgi

.PHONY: mailserver run test setup install install-dev translations translations-update browser bench eval lock clean help

help:
	@echo "make run    set up (venv, pinned install, migrations, demo data, index) and serve on http://$(HOST):$(PORT)"
	@echo "make test   set up (plus test tools and Chromium) and run the whole test suite"

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed translations

install-dev: $(VENV)/.installed-dev translations browser mailserver

translations: $(VENV)/.installed
	@$(BIN)/pybabel compile -d portal/translations

# Debian's Chromium for the browser tests (Playwright cannot download a browser here),
# and a CJK font so screenshots of the Chinese interface show characters, not boxes.
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi" || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei; }

# Debian's Dovecot: the email tests fetch from a real IMAP server on loopback, which the
# test set-up starts as an unprivileged process with its own configuration.
mailserver:
	@command -v dovecot >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; }

setup: install
	$(BIN)/flask setup

run: setup
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) wsgi:app

# The ticket services, surveys, insights, indexing and suggestions once more on PostgreSQL 16 (pgserver;
# tests/pg.py), with the PostgreSQL search backend. tests/search runs on both backends in the first pass.
# The whole kb suite also passes there (`.venv/bin/python -m pytest --database postgresql tests/kb`, about 15 min).
PG_TESTS := tests/kb/test_tickets.py tests/kb/test_ticket_work.py tests/kb/test_surveys.py tests/kb/test_insights.py \
	tests/kb/test_insight_sla_people.py tests/kb/test_indexing.py tests/kb/test_draft_dedup.py \
	tests/kb/test_ticket_similarity.py tests/portal/test_suggestion_pages.py

# Two pytest-xdist workers (tests/conftest.py keeps each file, and the browser tests, on one).
TEST_WORKERS ?= 2

test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --database postgresql $(PG_TESTS)

bench: install
	$(BIN)/python bench/index_throughput.py --n 300
	$(BIN)/python bench/suggest_latency.py --articles 10000 --requests 500
	$(BIN)/python -m bench.queue_timing --tickets 100000 --reps 30
	$(BIN)/python -m bench.duplicates
	$(BIN)/python -m bench.drafting_quality
	$(BIN)/python -m bench.insights_timing

eval: install
	@for mode in keyword semantic hybrid; do $(BIN)/flask search eval ../shared/datasets/stackfaq --mode $$mode; done

# After changing requirements.in: resolve and pin everything into requirements.txt.
lock: $(VENV)/.installed
	$(BIN)/python scripts/lock.py

clean:
	rm -rf $(VENV) .pytest_cache

# After changing UI text: extract the messages and merge them into the catalogues.
translations-update: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations
