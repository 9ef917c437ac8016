# Contrail: the local (embedded) deployment. `make run` sets up a fresh machine and runs the
# pipeline; `make test` runs the tests. Everything lives in .venv/, .contrail/ and data/.
SHELL := /bin/bash
PY    := .venv/bin/python
START ?= 2013-05-01
END   ?= 2013-05-14

.PHONY: install run test ui prod stop bench clean

install: .venv/.installed

.venv/.installed: requirements.txt pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	@test -x $(PY) || uv venv --quiet --python python3.11 .venv
	uv pip install --quiet --python $(PY) -r requirements.txt
	uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

run: install
	$(PY) -m contrail.local_run --start $(START) --end $(END)

# Test-only emulators from npm (Azurite: the Azure Blob protocol), pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

# Two pytest sessions side by side (tests/shards.py); `$(PY) -m pytest` runs the suite as one.
test: install node_modules/.installed
	$(PY) tests/shards.py $(PYTEST_ARGS)

ui: install
	$(PY) -m contrail.local_run --ui

# The production shape of docker-compose.yaml as processes (Celery + Redis, login, MLflow server on S3): until Ctrl-C.
prod: install
	$(PY) -m contrail.prod

stop:
	-$(PY) -m contrail.local_run --stop
	-$(PY) -m contrail.prod --stop
	-$(PY) -m contrail.spark.connect stop

bench: install
	$(PY) bench/parse_time.py
	$(PY) bench/day_wall_time.py
	$(PY) bench/quality_throughput.py
	$(PY) bench/scoring_throughput.py

clean: stop
	rm -rf .contrail .contrail-prod data
