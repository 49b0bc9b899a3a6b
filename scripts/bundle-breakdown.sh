#!/usr/bin/env bash
# Prints the browser bundle's code size by crate, as served (after wasm-bindgen
# and `wasm-opt -Oz`, like the release build) but with function names kept.
# Needs a release site build (`make site`) and `twiggy` (`cargo install twiggy`).
# Usage: scripts/bundle-breakdown.sh [ROWS]   (default 20 crates)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
wasm=target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm
[ -f "$wasm" ] || { echo "bundle-breakdown: $wasm is missing; run make site first" >&2; exit 1; }
command -v twiggy >/dev/null || { echo "bundle-breakdown: twiggy is not installed (cargo install twiggy)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wasm-bindgen "$wasm" --out-dir "$work" --target web
wasm-opt -Oz -g "$work/frontend_bg.wasm" -o "$work/named.wasm"
twiggy top -n 1000000 --format csv "$work/named.wasm" > "$work/top.csv"
python3 - "$work/top.csv" "${1:-20}" <<'PY'
import collections, csv, re, sys
rows, limit = csv.DictReader(open(sys.argv[1])), int(sys.argv[2])
by_crate = collections.Counter()
for row in rows:
    name, size = row["Name"], int(row["ShallowSize"])
    if "custom section" in name or "function names" in name:
        continue  # names only; the served file has none
    crate = re.search(r"([a-z_][a-z0-9_]*)(\[[0-9a-f]+\])?::", name)
    by_crate[crate.group(1) if crate else ("data" if "data" in name else "other")] += size
total = sum(by_crate.values())
print(f"| crate | bytes | share |\n| --- | --- | --- |")
for crate, size in by_crate.most_common(limit):
    print(f"| {crate} | {size:,} | {100 * size / total:.1f} % |")
print(f"| total (code and data) | {total:,} | |")
PY
