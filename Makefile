# The menu. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SDK0 := .venv-sdk0
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
REDIS_SERVER := /usr/bin/redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck bench setup clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The second SDK generation (letta-client 0.1.x, Fern) lives in its own small
# virtualenv: it pins dependency versions the main environment does not share.
$(SDK0)/.installed:
	test -d $(SDK0) || $(PYTHON) -m venv $(SDK0)
	$(SDK0)/bin/python -m pip install --quiet "letta-client==0.1.324"
	touch $(SDK0)/.installed

setup: $(STAMP)
	$(PY) manage.py migrate --verbosity 0

run: setup
	$(PY) manage.py runstack

# The browser tests drive Debian's Chromium (never a downloaded browser).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Install Chromium at $(CHROMIUM) for the browser tests."; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# The scale-out test starts a Redis of its own (tests/test_scale_out.py).
$(REDIS_SERVER):
	@command -v apt-get >/dev/null || { echo "Install redis-server at $(REDIS_SERVER) for the scale-out test."; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server

test: $(STAMP) $(SDK0)/.installed $(CHROMIUM) $(REDIS_SERVER)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(SDK0)
