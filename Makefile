# callscribe: `make run` starts a working portal on a fresh machine; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
PORT ?= 8000
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DJANGO_SETTINGS_MODULE := callscribe.settings

# Debian packages the tests use: espeak-ng, sox and ffmpeg make test speech; Chromium drives the
# browser tests, and npm fetches axe-core, the accessibility checker they inject into every page
# (package.json). The product itself needs none of them.
# command=Debian package(s) it comes from: only the missing ones are installed (a machine whose
# Node.js comes from elsewhere already has npm, and Debian's npm would conflict with it).
TEST_TOOLS := espeak-ng=espeak-ng sox=sox ffmpeg=ffmpeg chromium=chromium,chromium-driver npm=npm

# The locks pin every package with its hashes (`make lock` refreshes them from the .in files).
# torch is the CPU build, 2.13.0+cpu: where pip cannot find it already, add its index with
# make PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_ARGS ?=
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test lint format venv lock lock-nodeps test-packages test-js clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIP_ARGS) --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet $(PIP_ARGS) --require-hashes --no-deps -r requirements-nodeps.txt
	touch $@

# Runtime first: the development lock is constrained to the runtime one's versions.
lock: lock-nodeps
	test -x $(VENV)/bin/pip-compile || $(PY) -m pip install --quiet pip-tools
	$(LOCK) --upgrade --output-file requirements.txt requirements.in
	$(LOCK) --upgrade --output-file requirements-dev.txt requirements-dev.in

# The pins of requirements-nodeps.in (installed without their dependencies), with their wheels'
# hashes.
lock-nodeps:
	@{ echo "# Made by make lock from requirements-nodeps.in: pip install --no-deps --require-hashes"; \
	  grep -v '^\s*\(#\|$$\)' requirements-nodeps.in | while read -r pin; do \
	    wheels=$$(mktemp -d); \
	    $(PY) -m pip download --quiet --no-deps --only-binary :all: $(PIP_ARGS) -d $$wheels "$$pin" || exit 1; \
	    echo "$$pin \\"; \
	    for wheel in $$wheels/*; do echo "    --hash=sha256:$$(sha256sum $$wheel | cut -d' ' -f1)"; done; \
	    rm -rf $$wheels; \
	  done; } > requirements-nodeps.txt

$(DATA_DIR)/admin-password:
	@mkdir -p $(DATA_DIR)
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(12))" > $@
	@chmod 600 $@

run: venv $(DATA_DIR)/admin-password
	$(PY) manage.py migrate --noinput
	$(PY) manage.py install_model
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@ADMIN_USERNAME=admin ADMIN_PASSWORD="$$(cat $(DATA_DIR)/admin-password)" $(PY) manage.py ensure_admin
	@echo
	@echo "  callscribe is starting at http://127.0.0.1:$(PORT)/"
	@echo "  Log in as admin with the password $$(cat $(DATA_DIR)/admin-password)"
	@echo "  (stop with Ctrl-C)"
	@echo
	SECURE_COOKIES=0 BIND_HOST=127.0.0.1 PORT=$(PORT) $(VENV)/bin/honcho start web worker

test-packages:
	@missing=""; for tool in $(TEST_TOOLS); do \
	  command -v $${tool%%=*} >/dev/null || missing="$$missing $${tool#*=}"; \
	done; missing="$${missing//,/ }"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Please install: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

# axe-core for the browser tests, at the version package-lock.json pins, into ./node_modules.
test-js: node_modules/axe-core/axe.min.js

node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: venv test-packages test-js lint
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) -m pytest

clean:
	rm -rf $(VENV) staticfiles .pytest_cache test-artifacts node_modules
