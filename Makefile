# scalekit — make test is the one command CI and developers run.
#
#   make test        install missing engines (as root), then vet, staticcheck
#                    and go test -race on every module, with real engines
#   make bench       side-by-side suite against peers, 5 interleaved rounds:
#                    writes docs/bench/{results.md,ratios.svg,raw.txt}
#   make bench-short the same in a few minutes (3 rounds, 200ms each)
#   make bench-all   every testing.B benchmark of every module
#   make fuzz        run each fuzz target for FUZZTIME (default 10s)

SHELL := /bin/bash
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
MODULES := $(shell find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)
TESTFLAGS ?= -race -count=1 -timeout=20m
FUZZTIME ?= 10s

export SCALEKIT_REQUIRE_BACKENDS = 1
# go.work exists only so that `go run ./examples/shortener` works from the
# root; make treats every module on its own, as before.
export GOWORK = off

.PHONY: test backends vet staticcheck gotest bench bench-short bench-all fuzz fmt

test: backends vet staticcheck gotest

backends:
	@./scripts/ensure-backends.sh

vet:
	@set -e; for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); done

staticcheck:
	@set -e; for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(GO) run $(STATICCHECK) ./...); done

gotest:
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...); done

bench: backends
	@cd bench && $(GO) run ./cmd/benchreport -rounds 5 -benchtime 1s -out ../docs/bench

bench-short: backends
	@cd bench && $(GO) run ./cmd/benchreport -rounds 3 -benchtime 200ms -bench 'Cmp(Snowflake|Sonyflake|Allow|Bloom|HyperLogLog|Pick|Jump|Cache|Redis)' -out ../docs/bench

bench-all:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...); done

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

fmt:
	@gofmt -l -w $$(git ls-files '*.go')
