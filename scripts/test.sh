#!/usr/bin/env bash
# Runs the whole test suite: unit tests and end-to-end tests against real redis-server and
# redis-sentinel processes, which the tests start on free loopback ports and stop by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace --locked "$@"
