# MedShare. `make run` serves the embedded default on 127.0.0.1:8080;
# `make test` runs every test. See README.md.

GO        ?= go
DATA_DIR  ?= .data
ADDR      ?= 127.0.0.1:8080
FUNCTIONS := $(notdir $(wildcard functions/*))
DIST      := dist

.PHONY: run test test-unit build build-cli lint bench clean

run: ## serve the embedded default with demo identities
	$(GO) run ./cmd/medshare serve --addr $(ADDR) --data-dir $(DATA_DIR) --demo

test: lint test-unit ## every test

test-unit: ## unit, contract and end-to-end tests on the embedded runtime, with the race detector
	$(GO) test -race -count=1 ./...

build: $(FUNCTIONS:%=$(DIST)/functions/%/bootstrap) build-cli ## Lambda bootstrap binaries (linux/arm64) and the CLI

$(DIST)/functions/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $@ ./functions/$*

build-cli:
	@mkdir -p bin
	$(GO) build -trimpath -o bin/medshare ./cmd/medshare

lint: ## formatting and vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: ## benchmarks recorded in docs/PERFORMANCE.md
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./shared/httpapi

clean:
	rm -rf $(DIST) bin

FORCE:
