# scalekit — make test is the one command CI and developers run.
#
#   make test        install missing engines (as root), then vet, staticcheck
#                    and go test -race on every module, with real engines
#   make bench       side-by-side suite against peers, 5 interleaved rounds (~10 min):
#                    writes docs/bench/{results.md,ratios.svg,queues.svg,raw.txt}
#   make bench-short the same in a few minutes (3 rounds, 200ms each)
#   make bench-proxy L7/L4 proxies vs nginx and HAProxy on loopback (installs
#                    nginx-light and haproxy as root when missing):
#                    writes docs/bench/proxy.md
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

.PHONY: test backends vet staticcheck gotest bench bench-short bench-proxy proxy-peers bench-all fuzz fmt

test: backends vet staticcheck gotest

backends:
	@./scripts/ensure-backends.sh

vet:
	@set -e; for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); done

staticcheck:
	@set -e; for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(GO) run $(STATICCHECK) ./...); done

gotest:
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...); done

bench: backends bench-proxy
	@cd bench && $(GO) run ./cmd/benchreport -rounds 5 -benchtime 300ms -out ../docs/bench

# nginx and HAProxy for bench-proxy only (never part of make test).
proxy-peers:
	@need=; for b in nginx haproxy; do command -v $$b >/dev/null || [ -x /usr/sbin/$$b ] || need=1; done; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && (DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx) && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy; \
	  else echo "bench-proxy: nginx/haproxy missing and not root: those rows are skipped"; fi; fi

bench-proxy: proxy-peers
	@cd bench && $(GO) run ./cmd/proxybench -duration 5s -rounds 3 -out ../docs/bench/proxy.md

bench-short: backends
	@cd bench && $(GO) run ./cmd/benchreport -rounds 3 -benchtime 200ms -bench 'Cmp(Snowflake|Sonyflake|Allow|Bloom|HyperLogLog|Pick|Jump|Cache|Redis|Queue|Shard|Saga|LBSim|HTTPStack)' -out ../docs/bench

bench-all:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...); done

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

fmt:
	@gofmt -l -w $$(git ls-files '*.go')
