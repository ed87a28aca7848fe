# keygate: `make dev` runs the gateway locally, `make test` runs every check.
# Both install what they need first (wasm32 target, worker-build, wasm-bindgen-cli, npm packages)
# and skip whatever is already at the right version.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
NODE_BIN := $(ROOT)/node_modules/.bin
CARGO_HOME ?= $(HOME)/.cargo
export PATH := $(NODE_BIN):$(CARGO_HOME)/bin:$(PATH)
# worker-build would download these; point it at the pinned local copies instead.
export WASM_BINDGEN_BIN := $(CARGO_HOME)/bin/wasm-bindgen
export ESBUILD_BIN := $(NODE_BIN)/esbuild
export WASM_OPT_BIN := $(NODE_BIN)/wasm-opt
export WRANGLER_SEND_METRICS := false

WORKER_JS := build/index.js
PASSTHROUGH_JS := bench/passthrough/build/index.js
FAULTS_JS := build-faults/index.js
PROFILE_JS := build-profile/index.js
WORKER_SRC := $(shell find src crates/core/src -name '*.rs') src/glue.js crates/core/build.rs \
	openapi/keygate-management.json crates/core/Cargo.toml Cargo.toml Cargo.lock

.PHONY: setup worker worker-faults worker-profile dev test fuzz bench profile deploy clean

## Install the toolchain pieces that are missing or at the wrong version.
setup:
	@scripts/setup.sh

## Build the worker (release wasm) when its Rust sources changed.
worker: $(WORKER_JS)

$(WORKER_JS): $(WORKER_SRC)
	worker-build --release . --package keygate-worker
	@# Drop the names and producers sections (about 70 KB) that wasm-bindgen keeps, and optimise
	@# once more: a second pass at -O3 (speed-oriented) after worker-build's own -O takes another
	@# 2.5 KB gzipped off (measured; -O3 in worker-build's own pass instead gains nothing).
	wasm-opt build/index_bg.wasm -O3 --strip-debug --strip-producers -o build/index_bg.wasm
	@touch $@

## The test-only variant with the `fault-injection` feature (tests/e2e/tests/panic.rs), in its
## own output and target directories so that it never mixes with the production build.
worker-faults: $(FAULTS_JS)

$(FAULTS_JS): $(WORKER_SRC)
	worker-build --release --out-dir build-faults . --package keygate-worker \
		--features fault-injection --target-dir $(ROOT)/target/faults
	wasm-opt build-faults/index_bg.wasm -O3 --strip-debug --strip-producers -o build-faults/index_bg.wasm
	@touch $@

## The profiling variant (`make profile`, part 6 of `make bench`): the release build with the
## function names kept (the wasm "name" section), so that a V8 CPU profile names the Rust frames.
## The same features and code as `make worker`, so cargo reuses that build (same target dir).
## Two differences, neither in the code that runs: the JS glue is not minified (NO_MINIFY, so JS
## frames keep names such as getStringFromWasm0), and the last wasm-opt pass keeps the names
## (-g; without it wasm-opt drops them, as `make worker` wants).
worker-profile: $(PROFILE_JS)

$(PROFILE_JS): $(WORKER_SRC)
	NO_MINIFY=1 worker-build --release --out-dir build-profile . --package keygate-worker
	wasm-opt build-profile/index_bg.wasm -O3 -g --strip-producers -o build-profile/index_bg.wasm
	@touch $@

$(PASSTHROUGH_JS): bench/passthrough/src/lib.rs bench/passthrough/Cargo.toml Cargo.toml Cargo.lock
	cd bench/passthrough && worker-build --release
	wasm-opt bench/passthrough/build/index_bg.wasm --strip-debug --strip-producers -o bench/passthrough/build/index_bg.wasm
	@touch $@

## Run the gateway on http://localhost:8787 in front of a demo origin, with a demo key.
dev: setup
	@$(MAKE) -s worker
	@scripts/dev.sh

## fmt, clippy (host and wasm32), native tests, end-to-end tests, deploy dry-run.
test: setup
	@$(MAKE) -s worker worker-faults
	@scripts/test.sh

## The core's property tests (crates/core/tests/properties/, a module per subject) with FUZZ_CASES
## cases each instead of the 512 that `make test` runs; prints the cases each property ran and the time. Cargo only.
FUZZ_CASES ?= 200000
fuzz:
	@start=$$SECONDS; \
	PROPTEST_CASES=$(FUZZ_CASES) cargo test -p keygate-core --release --test properties -- --nocapture; \
	echo "make fuzz: $(FUZZ_CASES) cases per property, $$((SECONDS - start)) s with the build"

## Benchmarks (not tests): keygate vs JavaScript floors (passthrough, passthrough with a log line,
## a hand-written gateway) and a workers-rs passthrough under oha, with workerd CPU per request;
## the native decision path; what rate limits, quotas, management calls and the change feed cost;
## a CPU profile; and cold starts against the worker's size. See README, "Benchmarks".
bench: setup
	@$(MAKE) -s worker worker-profile $(PASSTHROUGH_JS)
	@scripts/bench.sh

## Where the CPU goes: a V8 CPU profile of keygate under oha load, taken through `wrangler dev`'s
## inspector (scripts/profile.mjs), with its top frames printed; the .cpuprofile files (under
## target/cpuprofile/) open in Chrome DevTools. Part 6 of `make bench`, on its own.
profile: setup
	@$(MAKE) -s worker-profile
	@scripts/profile.sh

## Deploy one environment of wrangler.toml: `make deploy ENV=staging` or `ENV=production` (see
## README, "Deploying"). The top level of wrangler.toml is the local-dev config and is never
## deployed. Any other ENV stops make while it reads this file, before setup, builds or wrangler.
DEPLOY_ENVS := staging production
ifneq ($(filter deploy,$(MAKECMDGOALS)),)
ifeq ($(and $(filter 1,$(words $(ENV))),$(filter $(DEPLOY_ENVS),$(ENV))),)
$(error make deploy needs ENV=staging or ENV=production (got ENV="$(ENV)"); the top level of wrangler.toml is the local development config and is not deployed)
endif
endif
deploy: setup
	@$(MAKE) -s worker
	wrangler deploy --env $(ENV)

clean:
	cargo clean
	rm -rf build build-faults build-profile
