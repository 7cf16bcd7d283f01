# gpumeter: `make demo` runs the local stack and a simulated fleet; `make test` runs every tier against real services.
# Test tiers: `test-unit` needs nothing (no services, seconds); `test-integration` (build tag integration) needs the
# services that deploy/local/services.sh starts; `faults` (build tag faults) starts services of its own.
SHELL := /bin/bash
export CGO_ENABLED := 1
# go-nvml's headers mark many functions deprecated; the warnings drown real output.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
GO ?= go
SERVICES := deploy/local/services.sh

.PHONY: deploy-check build test test-unit test-integration faults demo services-start services-stop fmt vet lint check bench clean

# The version stamped into both binaries (gpumeter-agent --version, service.version, gpumeter_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/gpumeter/gpumeter/internal/version.version=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./agent/cmd/gpumeter-agent ./collector/cmd/gpumeter-collector

# Every tier, against the real Kafka, ClickHouse and Alertmanager that the script starts (and stops again, whatever
# happens), and the local ClickHouse cluster (ZooKeeper and two more servers beside the first: README.md, "Running on
# a ClickHouse cluster") that the cluster tests use.
test:
	@$(SERVICES) start
	@$(SERVICES) start cluster
	@deploy/local/modern-clickhouse.sh install
	@deploy/local/focus-validator.sh install
	@set -o pipefail; rc=0; eval "$$($(SERVICES) env)"; \
	  $(MAKE) --no-print-directory check test-unit test-integration faults || rc=$$?; \
	  $(SERVICES) stop; exit $$rc

# Unit tests: no services, runs anywhere.
test-unit:
	$(GO) test -race -count=1 -timeout 5m ./...

# Unit and integration tests against the services already running (`make services-start`; on other ports than the
# defaults, eval "$(deploy/local/services.sh env)" first). A service that is not there fails the test, never skips it.
test-integration:
	$(GO) test -race -tags integration -count=1 -timeout 20m ./...

# Fault scenarios against services of their own (they stop and start Kafka and ClickHouse), so they run after the
# rest rather than beside it.
faults:
	$(GO) test -race -tags faults -count=1 -timeout 20m -v -run . ./internal/faults/

check: fmt vet lint deploy-check

# helm lint and strict template decoding, the chart's schema, promtool rules and unit tests, shellcheck on every
# script, go mod tidy, the Dockerfile's static checks and both binaries cross-compiled for linux/amd64 and arm64
# (deploy/check/run.sh; installs helm, shellcheck, promtool and the C cross compiler when missing).
deploy-check:
	@deploy/check/run.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags faults ./internal/faults/

lint:
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags integration ./...
	$(GO) tool staticcheck -tags faults ./internal/faults/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The pipeline benchmark (BENCHMARKS.md) on the local services, which it starts. Shapes: SHAPES (GPUSxDURATION, one
# record per GPU and minute) or GPUS and HOURS for one; BATCH: collector batch sizes; LIVE_RATE records/s for LIVE_FOR;
# TERM_GPUS x TERM_DAYS for the report; BENCH_RUN: which of drain,live,report. Output also in out/bench/pipeline.md.
GPUS ?=
HOURS ?= 1
SHAPES ?= $(if $(GPUS),$(GPUS)x$(HOURS)h,1000x20h 20000x1h 100000x12m)
BATCH ?= 50000 5000
LIVE_RATE ?= 1700
LIVE_FOR ?= 2m
TERM_GPUS ?= 100000
TERM_DAYS ?= 30
BENCH_RUN ?= drain,live,report
# CLUSTER=gpumeter: against the local ClickHouse cluster (services.sh start cluster), collector --clickhouse-cluster.
CLUSTER ?=
.PHONY: bench-pipeline
bench-pipeline: build
	$(GO) build -o bin/bench-pipeline ./deploy/local/bench-pipeline
	@$(SERVICES) start clickhouse && $(SERVICES) start kafka $(if $(CLUSTER),&& $(SERVICES) start cluster)
	@mkdir -p out/bench; set -o pipefail; eval "$$($(SERVICES) env)"; \
	  state="$${GPUMETER_LOCAL_DIR:-.local}"; pid=$$(cat "$$state/clickhouse/clickhouse.pid" 2>/dev/null || echo 0); \
	  addr="$$GPUMETER_TEST_CLICKHOUSE"; \
	  if [ -n "$(CLUSTER)" ]; then addr="$$GPUMETER_TEST_CLICKHOUSE_CLUSTER"; \
	    pid="$$pid,$$(cat "$$state/clickhouse2/clickhouse2.pid"),$$(cat "$$state/clickhouse3/clickhouse3.pid")"; fi; \
	  bin/bench-pipeline --kafka-brokers="$$GPUMETER_TEST_KAFKA" --clickhouse-addr="$$addr" \
	    --clickhouse-cluster="$(CLUSTER)" \
	    --clickhouse-pid="$$pid" --shapes="$(SHAPES)" --batches="$(BATCH)" --live-rate=$(LIVE_RATE) \
	    --live-for=$(LIVE_FOR) --term-gpus=$(TERM_GPUS) --term-days=$(TERM_DAYS) --run=$(BENCH_RUN) \
	  | tee out/bench/pipeline.md

demo: build
	@deploy/local/demo.sh

services-start:
	@$(SERVICES) start
	@$(SERVICES) start cluster

services-stop:
	@$(SERVICES) stop

clean:
	rm -rf bin out
