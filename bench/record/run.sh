#!/bin/sh
# The recorder's firing-path cost: builds bench/record in release and writes
# bench/results/<date>-<commit>-record.md. Usage: bench/record/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
commit=$(git -C "$root" rev-parse --short HEAD)
if ! git -C "$root" diff --quiet HEAD -- crates bench/record; then commit="$commit-dirty"; fi
date=$(date +%Y-%m-%d)
out="$root/bench/results/$date-$commit-record.md"
cargo build -q --release --manifest-path "$here/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$here/target}/release/heapwise-bench-record"
{
    echo "# heapwise::record: cost per recorded event on the firing thread"
    echo
    echo "- date: $date"
    echo "- commit: $commit"
    echo "- command: bench/record/run.sh (cargo build --release --manifest-path bench/record/Cargo.toml; then the binary)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?')"
    echo "- rustc: $(rustc --version)"
    echo "- method: each case calls an #[inline(never)] function 200000 times; the cases run interleaved, 11 rounds; median, min and max over the rounds. A recorded case starts a fresh recording (counters off) before its loop and finishes it after, outside the timing, so taking and first-touching 64 KiB chunks is included."
    echo
    "$bin"
} > "$out"
cat "$out"
echo "wrote $out"
