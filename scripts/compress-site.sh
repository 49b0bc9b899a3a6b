#!/usr/bin/env bash
# Writes brotli (.br) and gzip (.gz) copies of the built site's wasm, js and
# css next to them, so that /pkg serves the smallest one the browser accepts
# without compressing on every request.
#
#   scripts/compress-site.sh [PKG_DIR]   (default: target/site/pkg)
set -euo pipefail

pkg="${1:-$(cd "$(dirname "$0")/.." && pwd)/target/site/pkg}"
[ -d "$pkg" ] || { echo "no built site at $pkg: run cargo leptos build --release first" >&2; exit 1; }
command -v brotli >/dev/null || { echo "brotli is missing: scripts/setup.sh build installs it" >&2; exit 1; }

shopt -s nullglob
for file in "$pkg"/*.wasm "$pkg"/*.js "$pkg"/*.css; do
  # -n: no name or time in the gzip header, so the same input gives the same bytes.
  gzip -9 -n -k -f "$file"
  brotli -q 11 -k -f "$file"
  # The copies carry the original's time, so Last-Modified agrees whichever is served.
  touch -r "$file" "$file.gz" "$file.br"
done
