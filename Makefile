# mediaedge — two commands do all the set-up on a fresh Debian machine:
#   make run    installs what is missing, builds, and serves on the embedded store
#   make test   installs what is missing, starts a real Cassandra, runs every test
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
BIN := bin/mediaedge
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MEDIAEDGE_CASSANDRA ?= 127.0.0.1
# Race-detector runs on 2 cores are slow; one package at a time keeps Cassandra,
# libvips and ffmpeg tests from starving each other.
TESTFLAGS ?= -race -count=1 -p 1 -timeout 30m
NPM_DIRS := $(wildcard e2e/*/package.json)

.PHONY: run build test cassandra cassandra-stop deps test-deps bench lint clean webapp

run: deps build
	./$(BIN) serve $(ARGS)

# The web app embeds two npm libraries (webapp/package.json pins them); they
# are copied from node_modules into webapp/assets/vendor/ before go build
# embeds the folder. Offline after the first npm ci.
WEBAPP_VENDOR := webapp/assets/vendor/tus.min.js webapp/assets/vendor/hls.min.js

webapp: $(WEBAPP_VENDOR)

webapp/node_modules/.package-lock.json: webapp/package-lock.json
	cd webapp && npm ci --no-audit --no-fund --loglevel=error

webapp/assets/vendor/tus.min.js: webapp/node_modules/.package-lock.json
	cp webapp/node_modules/tus-js-client/dist/tus.min.js $@

webapp/assets/vendor/hls.min.js: webapp/node_modules/.package-lock.json
	cp webapp/node_modules/hls.js/dist/hls.min.js $@

build: webapp
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/mediaedge

deps:
	@scripts/install-deps.sh run

test-deps:
	@scripts/install-deps.sh test
	@for f in $(NPM_DIRS); do d=$$(dirname $$f); \
	  [ -d $$d/node_modules ] || (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done

cassandra:
	@scripts/cassandra.sh start

cassandra-stop:
	@scripts/cassandra.sh stop

test: test-deps cassandra webapp
	@# Before any test: every tool a test runs is here (the list is the TOOLS
	@# table of scripts/install-deps.sh), so a tool that only a hand install
	@# provided fails here by name instead of deep in the log.
	@scripts/install-deps.sh check test
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy; run 'go mod tidy' and commit:"; $(GO) mod tidy -diff; exit 1; }
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@# -v, filtered to each test's verdict and failure lines, so the log shows
	@# which tests ran (the Cassandra conformance suite among them) and none
	@# skipped in silence.
	$(GO) test $(TESTFLAGS) -v ./... 2>&1 | grep -E '^(--- |ok |FAIL|PASS$$|panic:|#)|\.go:[0-9]+:|^\s+--- (FAIL|SKIP)'

bench: deps build
	scripts/bench.sh $(BENCH)

# staticcheck is pinned; it is not part of `make test` so that a registry
# hiccup cannot turn CI red for a linter.
lint:
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.6.1
	staticcheck ./...

clean:
	rm -rf bin
