# Pulse: the two commands a newcomer needs are `make run` and `make test`.
# Each installs what is missing first (scripts/setup.sh), then does its job.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# wasm-opt from npm's binaryen must come first on PATH: cargo-leptos takes the
# first one it finds, and Debian's breaks hydration.
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

# Per package, explicit features: `app` must never be built with ssr and hydrate together.
CLIPPY := cargo clippy --locked --all-targets

.PHONY: run admin test bench bench-quick setup-build setup-test site lint rust-test e2e demo fuzz

## run: build the release site and serve it on LEPTOS_SITE_ADDR (default 127.0.0.1:3000)
run: setup-build site
	@echo "Admins who can log in at http://$${LEPTOS_SITE_ADDR:-127.0.0.1:3000}/login:"
	@./target/release/pulse admin list
	./target/release/pulse serve

## admin: create an admin who can log in (asks for the password): make admin EMAIL=you@example.com
admin:
	@test -n "$${EMAIL:-}" || { echo "usage: make admin EMAIL=you@example.com" >&2; exit 2; }
	@test -x ./target/release/pulse || $(MAKE) setup-build site
	./target/release/pulse admin create --email "$$EMAIL"

## test: formatting, lints, every Rust test, the load harness's quick check, and the browser suite on a fresh release build
test: setup-test lint rust-test site bench-quick e2e

## bench: the full load run (10,000 SSE clients, ingestion, memory, snapshot cost, hydration); writes BENCHMARKS.md (about 4 minutes)
bench: setup-test site
	cargo build --locked --release -p pulse-loadtest
	./target/release/pulse-loadtest --write BENCHMARKS.md

## bench-quick: 500 clients for a few seconds; checks the harness works (every client got every final snapshot), asserts no speed
bench-quick:
	cargo build --locked --release -p pulse-loadtest
	cargo test --locked --release -p pulse-loadtest
	./target/release/pulse-loadtest --quick

## demo: send signed demo webhooks to a running `make run` (RATE events/s for DURATION s)
demo:
	cargo run --locked --release -p pulse -- simulate --url http://$${LEPTOS_SITE_ADDR:-127.0.0.1:3000} --rate $${RATE:-5} --duration $${DURATION:-60}

## fuzz: fuzz the webhook payload parser for FUZZ_SECONDS (default 60), seeded with the test fixtures
fuzz:
	cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	mkdir -p fuzz/corpus/payload
	# cargo fuzz passes -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run payload corpus/payload ../server/tests/fixtures -- -max_total_time=$${FUZZ_SECONDS:-60}

setup-build:
	scripts/setup.sh build

setup-test:
	scripts/setup.sh test

site:
	cargo leptos build --release
	scripts/compress-site.sh

lint:
	cargo fmt --all --check
	$(CLIPPY) -p pulse -- -D warnings
	$(CLIPPY) -p app --features ssr -- -D warnings
	$(CLIPPY) -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
	$(CLIPPY) -p frontend --target wasm32-unknown-unknown -- -D warnings
	$(CLIPPY) -p pulse-loadtest -- -D warnings
	$(CLIPPY) -p testkit -- -D warnings

rust-test:
	cargo test --locked -p pulse
	cargo test --locked -p app --features ssr

e2e:
	end2end/run-tests.sh
