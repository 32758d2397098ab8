#!/usr/bin/env bash
# usage: scripts/fuzz.sh SECONDS [TARGET...] — runs each fuzz target (default: all) for
# SECONDS, one after the other, at the lowest CPU priority. With a nightly toolchain the
# targets are built with AddressSanitizer; otherwise (or with FUZZ_TOOLCHAIN=stable) they are
# built on stable without a sanitizer, which still catches every panic, overflow check and
# abort. New inputs go to fuzz/corpus-run/TARGET (not committed); crashes to
# fuzz/artifacts/TARGET. Needs `cargo install cargo-fuzz` (scripts/deps.sh installs it). The
# stable suite also replays fuzz/corpus and fuzz/reproducers through the same targets
# (engine/tests/fuzz_replay.rs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ $# -lt 1 ]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(head chunked config acl)
fi

toolchain=${FUZZ_TOOLCHAIN:-}
if [ -z "$toolchain" ]; then
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi
sanitizer=address
[ "$toolchain" = nightly ] || sanitizer=none

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-run/$t"
    echo "== $t for ${seconds}s ($toolchain, sanitizer: $sanitizer)" >&2
    # The committed seeds are read-only inputs; libFuzzer writes to the first directory.
    # A crash stops this target only: the others still run.
    if ! nice -n 19 cargo "+$toolchain" fuzz run -s "$sanitizer" "$t" "corpus-run/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (a crash leaves its input in fuzz/artifacts/TARGET/)" >&2
    exit 1
fi
