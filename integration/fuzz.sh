#!/usr/bin/env bash
# Fuzzes config.json loading/validation and state.json loading for a bounded time each
# (FUZZ_SECONDS, default 60), seeded with fuzz/regressions. A crash fails the run; its input
# is left in fuzz/artifacts/<target>/ to be added to fuzz/regressions/<target>/, where
# `cargo test` replays it from then on (runtime/tests/fuzz_regressions.rs).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$top/fuzz"
secs=${FUZZ_SECONDS:-60}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    log "installing the nightly toolchain (cargo fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
for target in config state; do
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    log "fuzz $target for ${secs}s"
    cargo +nightly fuzz run "$target" "$corpus" "regressions/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 2>&1 | tail -n 4
    rm -rf "$corpus"
done
