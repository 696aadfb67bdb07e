# hpcorch: the SDK, its CLI, and the throwaway cluster its tests run on.
# Every target runs as root on a Debian 12 machine (the cluster needs it).

export GOPROXY ?= https://proxy.golang.org
export GOTOOLCHAIN := local
export GOFLAGS ?= -mod=mod

GO ?= go
BIN := bin/hpcorch
CLUSTER := bash cluster/minicluster.sh
# The packages with tests of tag disruptive, which restart cluster daemons.
DISRUPTIVE := ./slurm/

.PHONY: all build demo test unit integration vet bench cluster-up cluster-down cluster-status clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hpcorch

## demo: the reference Quick Start, end to end, on the throwaway cluster.
demo: cluster-up build
	bash scripts/demo.sh

## test: every test: vet, the hermetic unit tests and the integration tests
## against the throwaway cluster (brought up when it is not running), then,
## alone, the tests that restart the cluster's daemons (tag disruptive).
test: cluster-up vet
	$(GO) test -race -count=1 -timeout 40m -p 2 -tags integration ./...
	$(GO) test -race -count=1 -timeout 10m -tags 'integration disruptive' -run Disruptive $(DISRUPTIVE)

## unit: the hermetic tests alone; no cluster needed.
unit: vet
	$(GO) test -race -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags 'integration disruptive' ./...

## bench: the benchmarks of bench/, as ratios against OpenSSH and raw SLURM.
bench: cluster-up
	bash bench/run.sh

cluster-up:
	$(CLUSTER) up

cluster-down:
	$(CLUSTER) down

cluster-status:
	$(CLUSTER) status

clean:
	rm -rf bin
