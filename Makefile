# Suishen Pass: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint fuzz system-deps bench-deps clean chaos soak

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,sm]'
	touch $(STAMP)

# libzbar0 (pyzbar), redis-server (service tests), Java (the Spark matching test), Chromium (page tests), a CJK font
# for the printed cards' Chinese line, poppler-utils (pdftoppm renders the card PDFs in their tests) and nginx (the
# proxy of the production-topology test, tests/e2e/test_topology.py; it is not started as a service): installed
# with apt-get when root, else one clear line.
system-deps:
	@missing=""; \
	ldconfig -p 2>/dev/null | grep -q libzbar.so.0 || missing="$$missing libzbar0"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || missing="$$missing fonts-wqy-zenhei"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing -- run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# wrk, the HTTP benchmark's load generator (Debian package `wrk`): installed when root; otherwise one line
# says so and benchmarks.http uses its asyncio load generator (exercised by tests/benchmarks in make test).
bench-deps:
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: wrk"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; \
	  else \
	    echo "wrk is not installed (sudo apt-get install -y wrk): the HTTP benchmark uses its Python load generator"; \
	  fi; \
	fi

# Dev keys, sample registries, a matching run, the sample catalogue, then the server on 127.0.0.1:8000.
run: system-deps $(STAMP)
	$(BIN)/suishen serve --demo --host 127.0.0.1 --port 8000

test: system-deps $(STAMP)
	$(BIN)/python -m pytest

# Codes, gate path and matching; camera frames; the HTTP API; SM2 beside ES256; the handheld in Chromium. JSON in
# var/bench/.
bench: system-deps bench-deps $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.frames
	$(BIN)/python -m benchmarks.http
	$(BIN)/python -m benchmarks.sm2
	$(BIN)/python -m benchmarks.handheld
	$(BIN)/python -m benchmarks.revocation
	$(BIN)/python -m benchmarks.evaluation
	$(BIN)/python -m benchmarks.changes
	$(BIN)/python -m benchmarks.results_copy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy keys verifier app scanner_client benchmarks

fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	$(BIN)/python tests/fuzz/campaign.py --seconds $${FUZZ_SECONDS:-60}

# Faults under load: two servers on one redis-server and one throwaway PostgreSQL cluster (installed with
# apt-get when missing, as root), killed and restarted under load; about 90 s. JSON in var/chaos/.
chaos: system-deps $(STAMP)
	@url="$$(scripts/ci-postgres.sh)" || exit 1; \
	trap 'scripts/ci-postgres.sh --stop "$$url"' EXIT; \
	$(BIN)/python -m benchmarks.chaos --database-url "$$url"

# Mixed load on one server for SOAK_SECONDS (default 600); memory and open files sampled each minute. JSON in var/soak/.
soak: system-deps $(STAMP)
	$(BIN)/python -m benchmarks.soak --seconds $${SOAK_SECONDS:-600}

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
