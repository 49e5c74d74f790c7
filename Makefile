# MedShare. `make run` serves the embedded default on 127.0.0.1:8080;
# `make test` runs every test, the AWS tier included. See README.md.

SHELL     := bash
GO        ?= go
DATA_DIR  ?= .data
ADDR      ?= 127.0.0.1:8080
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
DIST      := dist

# The local AWS emulators: pinned versions and checksums, and the script that
# installs, starts and stops them (localstack/README.md).
include localstack/versions.env
EMULATORS := localstack/emulators.sh
# Packages and extra flags for test-aws, e.g.
#   make test-aws PKGS=./shared/s3blob/... TESTFLAGS='-run Emulator -v'
PKGS      ?= ./...
TESTFLAGS ?=

.PHONY: run test test-unit test-aws tools build build-cli lint bench clean

run: ## serve the embedded default with demo identities
	$(GO) run ./cmd/medshare serve --addr $(ADDR) --data-dir $(DATA_DIR) --demo

test: lint tools ## every test: gofmt, go vet, then go test -race ./... once, with the AWS emulators up
	$(call with-emulators,./...)

test-unit: ## the tests that need no emulator (the AWS tier skips), with the race detector
	env -u MEDSHARE_AWS_EMULATORS -u MEDSHARE_REQUIRE_AWS $(GO) test -race -count=1 ./...

test-aws: tools ## go test -race $(PKGS) with the AWS emulators up
	$(call with-emulators,$(PKGS))

tools: ## fetch, verify and build the pinned emulators into .tools/ (skips what is there)
	@$(EMULATORS) install

# with-emulators PACKAGES: one shell starts the emulators in a run directory of
# its own (so that two runs in one checkout do not meet), runs go test with
# their env and MEDSHARE_REQUIRE_AWS=1 (an AWS test that would skip fails
# instead), and always stops them: on success, failure or interrupt. The
# emulators' logs are kept when something failed.
define with-emulators
@set -euo pipefail; mkdir -p .tools; \
run=$$(mktemp -d "$(CURDIR)/.tools/run-XXXXXX"); export MEDSHARE_EMULATORS_RUN_DIR=$$run; \
finish() { st=$$?; $(EMULATORS) stop >/dev/null 2>&1 || st=1; \
  if [ $$st -eq 0 ]; then rm -rf "$$run"; else echo "make: emulator logs kept in $${run#$(CURDIR)/}" >&2; fi; \
  exit $$st; }; \
trap finish EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
$(EMULATORS) start; \
eval "$$($(EMULATORS) env)"; \
echo "$(GO) test -race -count=1 $(TESTFLAGS) $(1)   (AWS emulators up, MEDSHARE_REQUIRE_AWS=1)"; \
MEDSHARE_REQUIRE_AWS=1 $(GO) test -race -count=1 $(TESTFLAGS) $(1)
endef

build: $(FUNCTIONS:%=$(DIST)/functions/%/bootstrap) build-cli ## Lambda bootstrap binaries (linux/arm64) and the CLI

$(DIST)/functions/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $@ ./functions/$*

build-cli:
	@mkdir -p bin
	$(GO) build -trimpath -o bin/medshare ./cmd/medshare

lint: ## formatting and vet
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: ## benchmarks recorded in docs/PERFORMANCE.md
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./shared/httpapi

clean:
	rm -rf $(DIST) bin

FORCE:
