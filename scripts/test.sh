#!/usr/bin/env bash
# usage: scripts/test.sh — formatting, lints and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Each fuzz target for a short run on the stable toolchain (coverage-guided; a crash fails).
if ! FUZZ_TOOLCHAIN=stable scripts/fuzz.sh 15 >target/fuzz-smoke.log 2>&1; then
    tail -n 60 target/fuzz-smoke.log
    exit 1
fi
grep -E '^(==|Done)' target/fuzz-smoke.log
# The keepalived pair in network namespaces, failover scenarios with timings (about 50 s; as
# root, otherwise it says why it is skipped).
scripts/ha-scenario.sh
# Every proxy under test serves every benchmark workload without errors (a few seconds each).
cargo run --release -p ringlb-bench -- --smoke >/dev/null
