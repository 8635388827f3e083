#!/usr/bin/env bash
# Starts a local Sentinel group (1 master, 2 replicas, 3 Sentinels) with Ellison in front, runs
# writers through Ellison, fails the master over in each way, and prints what the clients saw.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo run --release --locked -q -p ellison-e2e --example demo -- "$@"
