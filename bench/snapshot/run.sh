#!/bin/bash
# Heap snapshot of a large heap, next to the leak checks users would reach
# for: valgrind memcheck (--leak-check=full) and LeakSanitizer (nightly
# -Zsanitizer=leak), on the same program (src/main.rs; the peers get the
# `plain` build, without heapwise). Usage: bench/snapshot/run.sh [BLOCKS]
# (default 10000000, ~1 GiB of heap).
set -euo pipefail
cd "$(dirname "$0")"
blocks=${1:-10000000}
cargo build -q --release
cargo build -q --release --features plain --target-dir target/plain
target=$(rustc -vV | sed -n 's/host: //p')
have_lsan=0
if RUSTFLAGS="-Zsanitizer=leak" cargo +nightly build -q --release --features plain \
    --target "$target" --target-dir target/lsan 2> /dev/null; then
    have_lsan=1
fi
t() { /usr/bin/time -f "%e s, peak RSS %M KiB" "$@"; }
echo "## heapwise::snapshot::take, BLOCKS=$blocks"
HEAPWISE_SNAPSHOT=1 BLOCKS=$blocks t target/release/heapwise-bench-snapshot
echo "## the plain program, BLOCKS=$blocks"
BLOCKS=$blocks t target/plain/release/heapwise-bench-snapshot
if [ $have_lsan = 1 ]; then
    echo "## LeakSanitizer at exit, BLOCKS=$blocks"
    BLOCKS=$blocks t "target/lsan/$target/release/heapwise-bench-snapshot" 2>&1 | grep -E "SUMMARY|s, peak|^[a-z_]+ " || true
fi
echo "## valgrind --leak-check=full, BLOCKS=$blocks"
BLOCKS=$blocks t valgrind --leak-check=full --show-leak-kinds=none target/plain/release/heapwise-bench-snapshot 2>&1 |
    grep -E "definitely|indirectly|s, peak|^[a-z_]+ " || true
