# The one command surface: developers and CI run the same targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup up down logs shell migrate format format-check lint lint-fix typecheck test up-prod \
        down-prod install run demo cli simulator bench bench-fairness bench-scaling test-local test-docker \
        js-clients

export POETRY_VIRTUALENVS_IN_PROJECT := true
# Some machines set PYTHONDONTWRITEBYTECODE=1; without bytecode every process start recompiles
# every module (4.3 s instead of 1.4 s here for the API).
export PYTHONDONTWRITEBYTECODE :=

POETRY_VERSION := 2.5.1
POETRY := $(or $(shell command -v poetry 2>/dev/null),$(CURDIR)/.tools/bin/poetry)
VENV := $(CURDIR)/.venv/bin
# Docker Compose v2: the docker plugin when there is one, else the binary from the dev tools.
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo "$(VENV)/docker-compose")
# GPU=1: give Ollama the host's NVIDIA GPUs (docker-compose.gpu.yml).
GPU_FILE = $(if $(GPU),-f docker-compose.gpu.yml)
COMPOSE_DEV = $(COMPOSE) -f docker-compose.yml $(GPU_FILE)
COMPOSE_PROD = $(COMPOSE) -f docker-compose.prod.yml $(GPU_FILE)

# `make run` / `make demo` / `make cli`: the stack on this machine, without Docker (devstack/).
# They read RUN_ENV_FILE (default .env.dev, which `make setup` writes) and take the locations of
# this machine from these variables (`make demo RUN_PORT=8080`), defaults in devstack/:
#   RUN_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/llm  RUN_REDIS_URL=redis://127.0.0.1:6379/0
#   RUN_OLLAMA_URL=http://127.0.0.1:11434 (run)  RUN_PORT=8000  SIM_PORT=11434  SIM_RATE=30 (demo)
SIM_PORT ?= 11434
SIM_RATE ?= 30
ENV_FILE_READY = [ -f "$${RUN_ENV_FILE:-.env.dev}" ] || $(MAKE) -s setup

help: ## ✨ Shows a help message with all available commands.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

setup: ## 🚀 Initializes .env.dev and .env.prod from templates (random secrets in .env.prod).
	@for env in dev prod; do \
	  if [ -f .env.$$env ]; then echo ".env.$$env exists; left as it is"; continue; fi; \
	  cp .env.$$env.example .env.$$env; \
	  for token in $$(grep -E '^[A-Z_]+=' .env.$$env | grep -oE 'change-me-[a-z0-9-]*[a-z0-9]' | sort -u); do \
	    secret=$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'); \
	    sed -i.bak "s/$$token/$$secret/g" .env.$$env && rm -f .env.$$env.bak; \
	  done; \
	  echo "created .env.$$env"; \
	done
	@echo "Your master API key (MASTER_API_KEY in .env.dev): $$(grep -E '^MASTER_API_KEY=' .env.dev | cut -d= -f2)"
	@echo "Use it as: curl -H \"Authorization: Bearer \$$MASTER_API_KEY\" ..., or make API keys with it (README)."

up: ## 🐳 Starts all development containers in detached mode.
	@[ -f .env.dev ] || $(MAKE) -s setup
	@ln -sfn .env.dev .env
	$(COMPOSE_DEV) up -d --build
	@echo "API on http://127.0.0.1:$$(grep -E '^API_PORT=' .env.dev | cut -d= -f2 || echo 8000)"

down: ## 🛑 Stops and removes all development containers.
	@ln -sfn .env.dev .env
	$(COMPOSE) down

logs: ## 📜 Tails the logs of the API service in real-time.
	$(COMPOSE) logs -f api

shell: ## 💻 Opens an interactive shell (/bin/sh) inside the API container.
	$(COMPOSE) exec api /bin/sh

migrate: ## 🗄️ Runs database migrations against the development database.
	$(COMPOSE) exec api alembic upgrade head

up-prod: ## 🚢 Starts the production stack with .env.prod.
	@[ -f .env.prod ] || $(MAKE) -s setup
	@ln -sfn .env.prod .env
	$(COMPOSE_PROD) up -d --build

down-prod: ## 🛑 Stops the production stack.
	@ln -sfn .env.prod .env
	$(COMPOSE_PROD) down

format: install ## 🎨 Formats the entire codebase using Black.
	$(VENV)/black .

format-check: install ## 🎨 Checks if the code is formatted with Black.
	$(VENV)/black --check .

lint: install ## 🔎 Lints the code with Ruff (and the Dockerfile with hadolint, the compose files with Compose).
	$(VENV)/ruff check .
	$(VENV)/hadolint Dockerfile
	@[ -f .env ] || cp .env.dev.example .env
	$(VENV)/docker-compose -f docker-compose.yml config -q
	$(VENV)/docker-compose --env-file .env.prod.example -f docker-compose.prod.yml config -q
	$(VENV)/docker-compose -f docker-compose.test.yml config -q
	$(VENV)/docker-compose --env-file .env.prod.example -f docker-compose.prod.yml -f docker-compose.gpu.yml config -q
	$(VENV)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

lint-fix: install ## 🩹 Lints the code with Ruff and applies fixes automatically.
	$(VENV)/ruff check . --fix

typecheck: install ## 🔬 Type-checks the code with mypy (the configuration is in pyproject.toml).
	$(VENV)/mypy

test: ## 🧪 Runs the test suite: on this machine's PostgreSQL and Redis, else in containers.
	@if python3 tests/services.py; then \
	  $(MAKE) -s test-local; \
	elif docker info >/dev/null 2>&1; then \
	  echo "no local PostgreSQL/Redis: running the tests in containers"; $(MAKE) -s test-docker; \
	else \
	  echo "make test needs PostgreSQL and Redis (see TEST_DATABASE_ADMIN_URL, TEST_REDIS_URL) or Docker"; exit 1; \
	fi

test-local: install js-clients
	$(VENV)/pytest $(PYTEST_ARGS)

# The JavaScript clients the tests drive (the Vercel AI SDK, ollama-js), as package-lock.json pins
# them; without npm their tests are skipped.
JS_CLIENTS := tests/clients/js
js-clients: $(JS_CLIENTS)/node_modules/.installed
$(JS_CLIENTS)/node_modules/.installed: $(JS_CLIENTS)/package.json $(JS_CLIENTS)/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix $(JS_CLIENTS) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "no npm: the JavaScript client tests are skipped"; fi

test-docker:
	$(COMPOSE) -f docker-compose.test.yml run --rm --build tests; \
	  status=$$?; $(COMPOSE) -f docker-compose.test.yml down -v; exit $$status

install: .venv/.installed ## 📦 Installs Poetry (if missing) and the locked dependencies into .venv.

.venv/.installed: pyproject.toml poetry.lock $(POETRY)
	$(POETRY) install --no-root --sync --no-interaction
	$(VENV)/python -m compileall -q -j 0 .venv/lib > /dev/null || true
	@touch $@

$(CURDIR)/.tools/bin/poetry:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "poetry==$(POETRY_VERSION)"

run: install ## 🏃 Runs the API and a worker on this machine, against RUN_OLLAMA_URL (Ctrl-C stops them).
	@$(ENV_FILE_READY)
	@$(VENV)/python -m devstack run

demo: install ## 🎭 `make run` with the Ollama simulator standing in for Ollama (no GPU needed).
	@$(ENV_FILE_READY)
	@$(VENV)/python -m devstack run --simulator

cli: install ## 🔑 Runs `python -m web.cli $(ARGS)` with the settings of `make run` (ARGS="keys list").
	@$(ENV_FILE_READY)
	@$(VENV)/python -m devstack cli $(ARGS)

bench: install ## 🏁 Runs the benchmark: the gateway against the simulator directly (bench/results/).
	@command -v wrk >/dev/null || (command -v apt-get >/dev/null && apt-get install -y -qq wrk >/dev/null) || echo "no wrk: the throughput scenario is skipped"
	$(VENV)/python -m bench $(BENCH_ARGS)
	$(VENV)/python -m bench.fairness

bench-fairness: install ## ⚖️ Measures how long a quiet key and a quiet end user wait behind a flood.
	$(VENV)/python -m bench.fairness

bench-scaling: install ## 📈 Measures throughput with 1, 2, 4, 8 workers against a 4-way Ollama.
	$(VENV)/python -m bench.scaling

simulator: install ## 🤖 Runs the Ollama simulator alone on SIM_PORT.
	$(VENV)/python -m simulator --port $(SIM_PORT) --rate $(SIM_RATE)
