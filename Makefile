# jetflow: durable workflow workers on NATS JetStream. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
LINT      := $(GO) tool -modfile=tools/lint/go.mod golangci-lint
BIN       := bin
WORKERS   := chat-handler tts-module pipeline-bridge stt-module voice-assistant
BINARIES  := $(WORKERS) gateway jetflow standin-models
TEST_FLAGS ?= -race -shuffle=on -timeout 20m
# What every binary make binaries builds prints first with --version (internal/buildinfo): git
# stamps it, since the toolchain's own VCS stamp is missing in a worktree or with -buildvcs=false.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## the whole platform in one process: embedded JetStream, streams, workers, stand-in models, the gateway and its page on 127.0.0.1:8081
	$(GO) run ./cmd/jetflow dev

# The tests that run binaries as processes (integration/, deploy/) use the ones make binaries
# built, so they are built once, with the release flags.
.PHONY: test
test: check binaries ## every test, with -race and -shuffle=on, after the static checks
	JETFLOW_WORKER_BIN=$(CURDIR)/$(BIN) $(GO) test $(TEST_FLAGS) ./...
	JETFLOW_WORKER_BIN=$(CURDIR)/$(BIN) $(GO) -C deploy test $(TEST_FLAGS) ./...

# The reliability suite (integration/fault) runs its short form inside make test; this is its
# full form: more requests, longer faults, each scenario's figures appended to bin/reliability.jsonl
# for the README's Reliability table.
.PHONY: reliability
reliability: binaries ## the reliability suite's full form: real processes, real faults (figures in bin/reliability.jsonl)
	rm -f $(BIN)/reliability.jsonl
	JETFLOW_RELIABILITY=full JETFLOW_RELIABILITY_FIGURES=$(CURDIR)/$(BIN)/reliability.jsonl \
	  JETFLOW_WORKER_BIN=$(CURDIR)/$(BIN) $(GO) test -v -count=1 -timeout 90m ./integration/fault/

.PHONY: test-short
test-short: ## the unit tests only, skipping tool-driven checks (buf, nats CLI)
	$(GO) test -short -shuffle=on ./...

.PHONY: check
check: fmt-check vet lint ## gofmt, go vet, golangci-lint

.PHONY: fmt-check
fmt-check:
	@files=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$' | grep -v '\.connect\.go$$')); \
	if [ -n "$$files" ]; then echo "gofmt would change: $$files"; exit 1; fi

.PHONY: fmt
fmt: ## format the Go code
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$' | grep -v '\.connect\.go$$')

.PHONY: vet
vet: ## go vet (the product, the deploy/ module and the benchmark's peers module)
	$(GO) vet ./...
	$(GO) -C deploy vet ./...
	$(GO) -C bench/peers vet -tags grpcnotrace ./...

.PHONY: lint
lint: ## golangci-lint (pinned)
	$(LINT) run ./...
	cd deploy && $(GO) tool -modfile=../tools/lint/go.mod golangci-lint run ./...

.PHONY: tools
tools: ## build the pinned tools once (buf, protoc plugins, nats CLI, golangci-lint)
	$(GO) build -modfile=tools/go.mod -o /dev/null github.com/bufbuild/buf/cmd/buf github.com/fullstorydev/grpcurl/cmd/grpcurl google.golang.org/protobuf/cmd/protoc-gen-go connectrpc.com/connect/cmd/protoc-gen-connect-go github.com/nats-io/natscli/nats
	$(GO) build -modfile=tools/lint/go.mod -o /dev/null github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: proto
proto: ## regenerate the Go code from proto/ (the tests fail when it is stale)
	$(TOOL) buf format -w
	$(TOOL) buf lint
	$(TOOL) buf generate

.PHONY: streams-apply
streams-apply: ## apply streams/ to the server at NATS_URL (idempotent; prints what changed)
	$(GO) run ./cmd/jetflow streams apply

.PHONY: streams-diff
streams-diff: ## show how the server at NATS_URL differs from streams/
	$(GO) run ./cmd/jetflow streams diff

.PHONY: nats
nats: ## build the pinned nats CLI into bin/nats
	$(GO) build -modfile=tools/go.mod -o $(BIN)/nats github.com/nats-io/natscli/nats

.PHONY: binaries
# grpcnotrace: gRPC (linked by every worker through the OTLP packages and Milvus) then leaves out
# its trace pages (x/net/trace, html/template), which nothing enables; 4.7 MiB less per binary.
binaries: ## static, stripped binaries of every command into bin/
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do \
	  CGO_ENABLED=0 $(GO) build -trimpath -tags grpcnotrace -ldflags='-s -w -X github.com/jetflow-dev/jetflow/internal/buildinfo.version=$(VERSION)' -o $(BIN)/$$b ./cmd/$$b || exit 1; \
	done

.PHONY: deploy-gen
deploy-gen: ## regenerate the NACK resources in deploy/ from streams/ (a test fails when stale)
	$(GO) -C deploy run ./cmd/gen-nack -out kubernetes/base/nack

.PHONY: footprint
# The binaries make binaries builds are the Dockerfile's (same flags), so they are the ones measured.
footprint: binaries ## size, start time, memory and clean stop of every worker and the gateway against the budgets
	JETFLOW_WORKER_BIN=$(CURDIR)/$(BIN) deploy/footprint.sh

.PHONY: images
images: ## container images of every worker (needs a Docker engine)
	@for b in $(WORKERS); do \
	  docker build -f deploy/Dockerfile --build-arg BINARY=$$b --build-arg VERSION=$(VERSION) -t jetflow/$$b:dev . || exit 1; \
	done

.PHONY: bench
bench: ## jetflow against bare JetStream, side by side (table on stdout, bench/results.json)
	$(GO) run ./cmd/jetflow-bench

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 10s; FUZZMINIMIZETIME bounds minimizing each new input, default 5s: the default 60s stalled some targets)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} -fuzzminimizetime $${FUZZMINIMIZETIME:-5s} $$pkg || exit 1; \
	  done; \
	done

.PHONY: bench-peers
bench-peers: ## the benchmark with Watermill beside jetflow (bench/peers, a module of its own)
	cd bench/peers && $(GO) run -tags grpcnotrace ./cmd/jetflow-bench-peers -out ../results.json $(BENCH_FLAGS)

.PHONY: bench-gateway
bench-gateway: binaries ## what the gateway adds to a chat call, against publishing directly, at 500 req/s (figures in bin/gateway-bench.json)
	JETFLOW_GATEWAY_BENCH=1 JETFLOW_GATEWAY_BENCH_FIGURES=$(CURDIR)/$(BIN)/gateway-bench.json \
	  JETFLOW_WORKER_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -run '^TestGatewayOverhead$$' ./integration/gateway/
