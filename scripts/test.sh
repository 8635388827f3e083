#!/usr/bin/env bash
# Runs the whole test suite: unit tests and end-to-end tests against real redis-server and
# redis-sentinel processes, which the tests start on free loopback ports and stop by PID. The
# end-to-end tests run twice: with Ellison in session mode (the default), then in multiplex
# mode (ELLISON_MODE, which every Ellison the harness starts reads as its --mode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace --locked "$@"
ELLISON_MODE=multiplex cargo test --locked -p ellison-e2e "$@"
