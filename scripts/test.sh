#!/usr/bin/env bash
# usage: scripts/test.sh — formatting, lints and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The keepalived pair in network namespaces, failover scenarios with timings (about 50 s; as
# root, otherwise it says why it is skipped).
scripts/ha-scenario.sh
# Every proxy under test serves every benchmark workload without errors (a few seconds each).
cargo run --release -p ringlb-bench -- --smoke >/dev/null
