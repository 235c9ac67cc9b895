# `make` lists the targets. Every target is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export APPROVALS_DATABASE_URL ?= sqlite:///$(CURDIR)/var/approvals.sqlite3
SWAGGER_UI := src/approvals/web/static/vendor/swagger-ui
BPMN_JS := src/approvals/web/static/vendor/bpmn-js
# The owners' modeler (bpmn-js + properties panel + our properties) and the decision table editor
# (dmn-js), built from frontend/ by esbuild.
OWNER_MODELER := src/approvals/web/static/vendor/approvals-modeler
PORT ?= 5000

# Coverage floors, at the figures reached (raise them as they grow): the whole package (statements
# and branches), and branches alone of the use cases and the engine.
COVERAGE_FLOOR := 94
BRANCH_FLOOR := 90
# pytest-xdist workers for `make test` (auto: one per core); each has its own PostgreSQL database.
TEST_WORKERS ?= auto

CATALOG := src/approvals/web/translations/zh/LC_MESSAGES/messages

.PHONY: help venv install assets catalog db seed serve demo test bench lint static screenshots format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python  ## create the virtual environment

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## install the package with its test tools

$(SWAGGER_UI)/swagger-ui-bundle.js:
	mkdir -p $(SWAGGER_UI) build/npm
	cd build/npm && npm install --silent --no-audit --no-fund --no-save swagger-ui-dist@5
	cp build/npm/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   build/npm/node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js \
	   build/npm/node_modules/swagger-ui-dist/swagger-ui.css $(SWAGGER_UI)/

$(BPMN_JS)/bpmn-modeler.production.min.js:
	mkdir -p $(BPMN_JS) build/npm
	cd build/npm && npm install --silent --no-audit --no-fund --no-save bpmn-js@18.31.1
	cp build/npm/node_modules/bpmn-js/dist/bpmn-modeler.production.min.js \
	   build/npm/node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $(BPMN_JS)/
	cp -r build/npm/node_modules/bpmn-js/dist/assets $(BPMN_JS)/

$(OWNER_MODELER)/modeler.bundle.js: frontend/package.json frontend/package-lock.json frontend/*.js frontend/*.json
	mkdir -p $(OWNER_MODELER)
	cd frontend && npm ci --silent --no-audit --no-fund && npm run --silent build
	cp frontend/node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css $(OWNER_MODELER)/
	rm -rf $(OWNER_MODELER)/dmn && cp -r frontend/node_modules/dmn-js/dist/assets $(OWNER_MODELER)/dmn

$(CATALOG).mo: $(CATALOG).po | $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d src/approvals/web/translations -D messages

catalog: install  ## extract the pages' words into the catalogue (then translate the new ones in messages.po)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k msg -k translate --no-location --sort-output -o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d src/approvals/web/translations -D messages --no-fuzzy-matching --ignore-obsolete
	$(MAKE) $(CATALOG).mo

assets: $(CATALOG).mo $(SWAGGER_UI)/swagger-ui-bundle.js $(BPMN_JS)/bpmn-modeler.production.min.js $(OWNER_MODELER)/modeler.bundle.js  ## front-end files from npm, served locally

db: install  ## create or upgrade the database and load the agencies
	$(BIN)/approvals init-db

seed: db  ## demo users, the bundled models and demo projects
	$(BIN)/approvals seed-demo

serve: install  ## serve on http://127.0.0.1:$(PORT)
	$(BIN)/approvals serve --bind 127.0.0.1:$(PORT) --workers 2 --with-worker

demo: install assets seed serve  ## everything, then serve the demo on SQLite

test: lint  ## set up and run every check and test (PostgreSQL too when APPROVALS_TEST_POSTGRES_URL is set)

static: install  ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench
	$(BIN)/mypy

lint: static assets  ## the static checks, then every test with the coverage floors
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)
	$(BIN)/python tools/branch_floor.py $(BRANCH_FLOOR) services engine

screenshots: install assets  ## take the pages' screenshots again, into docs/screenshots/
	APPROVALS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/web/test_browser.py

format: install  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests tools bench
	$(BIN)/ruff check --fix src tests tools bench

bench: install  ## every benchmark, printing figures and ratios (PostgreSQL on 127.0.0.1:5432; HAProxy from Debian)
	command -v haproxy >/dev/null || apt-get install -y haproxy
	$(BIN)/python -m bench


clean:  ## remove the virtual environment, demo database and build files
	rm -rf $(VENV) var build
