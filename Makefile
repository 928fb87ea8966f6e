# The menu. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SDK0 := .venv-sdk0
EVALS := .venv-evals
CLIENTS := tests/clients
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-packages lint typecheck bench setup clean

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

# Letta's evaluation framework in a virtualenv of its own: it brings a large set of
# dependencies (modal, google-genai, anthropic) the server does not need.
$(EVALS)/.installed:
	test -d $(EVALS) || $(PYTHON) -m venv $(EVALS)
	$(EVALS)/bin/python -m pip install --quiet "letta-evals==0.26.0"
	touch $(EVALS)/.installed

# Letta's JavaScript clients at the versions in tests/clients/package-lock.json: Letta Code
# and the node.js SDK of two generations. --ignore-scripts: Letta Code's install scripts
# patch its terminal UI and fetch binaries; the headless mode the tests use needs neither.
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	cd $(CLIENTS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP)
	$(PY) manage.py migrate --verbosity 0

run: setup
	$(PY) manage.py runstack

# Debian packages the tests use, as program:package. The browser tests drive Debian's
# Chromium (never a downloaded browser); the scale-out test starts a Redis of its own
# (tests/system/test_scale_out.py); the portability tests disassemble the embedded database
# with binutils and run it on valgrind's CPU, which has no AVX-512
# (tests/database/test_portability.py); custom tools run in bubblewrap's sandbox
# (tests/toolbox/test_sandbox.py). Whatever is missing is installed in one go.
TEST_PACKAGES := /usr/bin/chromium:chromium /usr/bin/redis-server:redis-server \
	/usr/bin/objdump:binutils /usr/bin/valgrind:valgrind /usr/bin/bwrap:bubblewrap

test-packages:
	@missing=""; for pair in $(TEST_PACKAGES); do \
		[ -x "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		command -v apt-get >/dev/null || { echo "Install for the tests:$$missing"; exit 1; }; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test: $(STAMP) $(SDK0)/.installed $(EVALS)/.installed $(CLIENTS)/node_modules/.installed \
		test-packages
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(SDK0) $(EVALS) $(CLIENTS)/node_modules
