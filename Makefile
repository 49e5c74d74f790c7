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
#   make test-aws PKGS=./shared/blob/s3blob/... TESTFLAGS='-run Emulator -v'
PKGS      ?= ./...
TESTFLAGS ?=

.PHONY: run test test-unit test-aws tools doc-tools build build-cli lint bench bench-coldstart bench-throughput clean web web-test web-browser screenshots fuzz fuzz-smoke

run: ## serve the embedded default with demo identities
	$(GO) run ./cmd/medshare serve --addr $(ADDR) --data-dir $(DATA_DIR) --demo

# The CDK app's tests (infra/) run without the race detector: synthesis is
# one goroutine driving jsii's node process, and compiling the CDK bindings
# with -race costs minutes on an empty cache. Every other package runs with it.
RACE_PKGS := $$($(GO) list ./... | grep -v '/infra')
# jsii warns on every synthesis that Node 20 is past its end of life.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

test: lint tools doc-tools web-browser ## every test: gofmt, go vet, then go test -race once with the AWS emulators up, the fuzz targets briefly, the CDK app's tests, the TypeScript client's, and the portals' in Chromium
	$(call with-emulators,$(RACE_PKGS))
	@$(MAKE) --no-print-directory fuzz-smoke
	$(GO) test -count=1 ./infra/...
	@$(MAKE) --no-print-directory web-test

test-unit: doc-tools ## the tests that need no emulator (the AWS tier skips), with the race detector (infra without)
	env -u MEDSHARE_AWS_EMULATORS -u MEDSHARE_REQUIRE_AWS $(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 ./infra/...

test-aws: tools ## go test -race $(PKGS) with the AWS emulators up
	$(call with-emulators,$(PKGS))

tools: ## fetch, verify and build the pinned emulators into .tools/ (skips what is there)
	@$(EMULATORS) install

# The README's walkthrough runs in bash with curl, jq and openssl, and a
# test runs it (docs/readme_test.go), failing, never skipping, without them.
# On Debian as root (CI), install what is missing from the release's own
# archive; elsewhere, say what to install and fail. No version is pinned: the
# walkthrough uses nothing newer than jq 1.5 and curl 7.
DOC_TOOLS := bash curl jq openssl
doc-tools: ## the commands the README's walkthrough needs: bash, curl, jq, openssl
	@missing=$$(for c in $(DOC_TOOLS); do command -v $$c >/dev/null 2>&1 || echo $$c; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	missing=$$(echo $$missing); \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing $$missing (the README's walkthrough needs them)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "make: $$missing not found: install them (Debian: apt-get install -y $$missing)" >&2; exit 1; \
	fi

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

# The fuzz targets (issue 10 §3, docs/FUZZING.md), as package:target. Plain
# go test runs their seeds and testdata/fuzz corpora as regression tests;
# fuzz-smoke fuzzes each for FUZZ_SMOKE_TIME (make test), fuzz for FUZZTIME.
# A failing input is written to the package's testdata/fuzz/<target>/.
FUZZ_TARGETS := \
	./shared/runtime/embedded:FuzzHandler ./shared/runtime/embedded:FuzzLocalServer \
	./shared/runtime/devauth:FuzzVerify ./shared/blob/localblob:FuzzBlobURL \
	./client:FuzzOpenKey ./client:FuzzDecryptPhoto \
	./shared/core:FuzzParseDeviceKey ./shared/core:FuzzSealKey \
	./shared/core:FuzzAuditRecord ./shared/core:FuzzReportActivity \
	./shared/store/boltstore:FuzzVerifyChain ./shared/legacy:FuzzManifest \
	./shared/httpapi:FuzzStrictDecode
FUZZ_SMOKE_TIME ?= 3s
FUZZTIME        ?= 5m
# Go minimizes every new interesting input for up to a minute by default;
# with inputs of milliseconds that stalls short runs.
FUZZMINIMIZETIME ?= 5s

fuzz-smoke: ## every fuzz target for FUZZ_SMOKE_TIME (3s) each
	@$(call run-fuzz,$(FUZZ_SMOKE_TIME))

fuzz: ## every fuzz target for FUZZTIME (default 5m) each, e.g. make fuzz FUZZTIME=30m
	@$(call run-fuzz,$(FUZZTIME))

# run-fuzz TIME: go test -fuzz takes one target of one package at a time.
define run-fuzz
set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
  echo "$(GO) test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(1) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg"; \
  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(1) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; done
endef

bench: ## benchmarks recorded in docs/PERFORMANCE.md
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./shared/httpapi ./shared/jobs

# The functions' cold starts against a hello-world bootstrap under the Lambda
# Runtime Interface Emulator, and their arm64 sizes (issue 14 §3, §5).
RUNS ?= 7
bench-coldstart: tools ## cold-start ratio to a hello world and arm64 sizes of every function (RUNS=7 per bootstrap)
	$(GO) run ./cmd/medshare bench coldstart --runs $(RUNS)

# The embedded server's throughput against a trivial JSON server, on
# loopback (issue 14 §1, §2, §5): THROUGHPUT_FLAGS passes flags, e.g.
# THROUGHPUT_FLAGS='--runs 5 --cpuprofile /tmp/prof'.
THROUGHPUT_FLAGS ?=
bench-throughput: ## chat signed URLs/s and photo views/s of the embedded server against a floor (32 clients, loopback)
	$(GO) run ./cmd/medshare bench throughput $(THROUGHPUT_FLAGS)

clean:
	rm -rf $(DIST) bin web/client/build web/portal/build

# The TypeScript client (web/client, @medshare/client) and the portals
# (web/portal), whose built bundle web/dist is committed and embedded into
# medshare (web/web.go), so `make run` needs only Go. Their dependencies are
# pinned by web/package-lock.json and installed with npm ci into
# web/node_modules on first use, and again whenever the lockfile changes.
# The tests build the Go binaries they need and start their own medshare
# serve; the portals' tests drive Debian's Chromium with playwright-core.
WEB_MODULES := web/node_modules/.package-lock.json

web: $(WEB_MODULES) ## rebuild the portals' bundle into web/dist (esbuild, reproducible; commit the result)
	cd web && npm run dist

web-test: $(WEB_MODULES) web-browser ## the TypeScript client's tests, then the portals' (bundle, sign-in, and every view in Chromium)
	cd web && npm test --workspace client
	cd web && npm test --workspace portal

screenshots: $(WEB_MODULES) web-browser ## run the portals' browser tests, writing the README's screenshots into docs/screenshots (commit them)
	cd web && MEDSHARE_SCREENSHOTS_DIR=docs/screenshots npm test --workspace portal

# Debian's Chromium for the portals' browser tests ($$MEDSHARE_CHROMIUM, or
# chromium on the PATH). On Debian as root (CI), install it with a font from
# the release's archive; elsewhere, say what to install and fail. No browser
# is ever downloaded from anywhere else.
web-browser: ## check for Chromium, and install it with apt-get when missing (root on Debian)
	@if [ -n "$$MEDSHARE_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing chromium (the portals' browser tests need it)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; \
	else \
	  echo "make: chromium not found: install it (Debian: apt-get install -y chromium), or set MEDSHARE_CHROMIUM" >&2; exit 1; \
	fi

$(WEB_MODULES): web/package-lock.json web/package.json web/client/package.json web/portal/package.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  { echo "make: the web tests need Node.js 20 or later and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
	  { echo "make: the web tests need Node.js 20 or later, not $$(node --version)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	@touch $@

FORCE:

# The CDK app (infra/, issue 6). `make synth` builds the functions and writes
# the cloud assembly to cdk.out/ with no AWS credentials; deploy and destroy
# run the pinned CDK CLI on it. Context values go in CDK_CONTEXT, e.g.
#   make deploy CDK_CONTEXT='-c alarmEmail=ops@example.com'
# See docs/DEPLOY.md.
CDK_CLI     ?= npx --yes aws-cdk@2.1148.1
CDK_CONTEXT ?=
CDK_OUT     := cdk.out

.PHONY: synth deploy destroy

synth: build ## synthesize the CDK stack into cdk.out/ (cdk-nag errors fail it)
	$(GO) run ./infra -o $(CDK_OUT) $(CDK_CONTEXT)

deploy: synth ## deploy the synthesized stack (AWS credentials and a bootstrapped account needed)
	$(CDK_CLI) deploy --app $(CDK_OUT) --require-approval broadening --outputs-file $(CDK_OUT)/outputs.json

destroy: synth ## delete the stack (the table, bucket, keys, user pool and logs are retained)
	$(CDK_CLI) destroy --app $(CDK_OUT)
