#!/usr/bin/env bash
# Installs what building and testing Pulse needs, skipping whatever is already
# there, so it is cheap on a warm machine and complete on a fresh Debian one
# with Rust and Node.
#
#   scripts/setup.sh build   - wasm target, cargo-leptos, wasm-bindgen CLI, wasm-opt, brotli
#   scripts/setup.sh test    - the above, plus Chromium, the Playwright package,
#                              PostgreSQL and Redis (the tests start private servers
#                              of both on free ports; nothing runs as a service)
#
# Versions are pinned where a mismatch breaks the build (see ../shared/TOOLCHAIN.md
# in the team's notes): wasm-bindgen-cli must equal the wasm-bindgen crate in
# Cargo.lock, and wasm-opt must come from npm's binaryen, not Debian's.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
cargo_leptos_version="0.3.10"
binaryen_version="132.0.0"
wasm_bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock")"

step() { printf '\n==> %s\n' "$*"; }

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
}

setup_build() {
  command -v cargo >/dev/null || { echo "Rust is required: https://rustup.rs" >&2; exit 1; }
  command -v npm >/dev/null || { echo "Node.js and npm are required" >&2; exit 1; }

  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$cargo_leptos_version"; then
    step "installing cargo-leptos $cargo_leptos_version (about 12 minutes, once per machine)"
    cargo install cargo-leptos --locked --version "$cargo_leptos_version" --features no_downloads
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$wasm_bindgen_version"; then
    step "installing wasm-bindgen-cli $wasm_bindgen_version"
    # Not --locked: one of its locked dependency versions is missing from the registry.
    cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --force
  fi
  # brotli compresses the built assets once (scripts/compress-site.sh).
  command -v brotli >/dev/null || apt_install brotli
  if ! "$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "${binaryen_version%%.*}"; then
    step "installing wasm-opt from npm binaryen@$binaryen_version"
    npm install --prefix "$tools" --no-audit --no-fund --silent "binaryen@$binaryen_version"
  fi
}

setup_test() {
  setup_build
  command -v python3 >/dev/null || apt_install python3
  # prometheus: for promtool, which checks deploy/prometheus/pulse-alerts.yml;
  # python3-aiosmtpd: the SMTP server the alert tests send email to.
  apt_install chromium postgresql redis-server curl openssl nginx-light prometheus python3-aiosmtpd
  if [ ! -x "$root/end2end/node_modules/.bin/playwright" ]; then
    step "installing Playwright (without its browser download; Debian's Chromium is used)"
    (cd "$root/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}

case "${1:-}" in
  build) setup_build ;;
  test) setup_test ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
