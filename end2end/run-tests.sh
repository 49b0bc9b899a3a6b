#!/usr/bin/env bash
# Runs the Playwright suite against the release build in ../target.
# Picks a free loopback port so it never collides with a running `make run`.
set -euo pipefail
cd "$(dirname "$0")"
E2E_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export E2E_PORT
exec npx playwright test "$@"
