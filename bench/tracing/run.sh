#!/usr/bin/env bash
# Entering and exiting a span: heapwise-tracing's layer vs a no-op layer,
# both on tracing-subscriber's registry, both with heapwise's allocator.
#
#   bench/tracing/run.sh [--rounds R]
#
# Wall clock: R rounds of [noop, heapwise, noop], ratio = heapwise over the
# mean of its two noop runs, median over rounds. Instructions: callgrind,
# slope between N = 100k and 200k enter+exit pairs. Writes
# bench/results/DATE-COMMIT-tracing.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
rounds=15
[ "${1:-}" = --rounds ] && rounds="$2"
cargo build --release --quiet
bin=target/release/heapwise-bench-tracing
ns() { "$bin" "$@" | sed -n 's/.*ns_per_enter_exit=\([0-9.]*\).*/\1/p'; }
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
raw=$(mktemp)
for _ in $(seq 1 "$rounds"); do
    echo "$(ns noop) $(ns heapwise) $(ns noop)" >> "$raw"
done
i_noop=$(( ($(ir noop 200000) - $(ir noop 100000)) ))
i_hw=$(( ($(ir heapwise 200000) - $(ir heapwise 100000)) ))
commit=$(git rev-parse --short HEAD)
out="../results/$(date -u +%Y-%m-%d)-$commit-tracing.md"
python3 - "$raw" "$i_noop" "$i_hw" "$rounds" "$commit" > "$out" <<'PY'
import sys, statistics as st
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
noop = [ (a + c) / 2 for a, _, c in rows ]
hw = [ b for _, b, _ in rows ]
ratio = [ b / ((a + c) / 2) for a, b, c in rows ]
q = st.quantiles(ratio, n=4)
i_noop, i_hw = int(sys.argv[2]) / 5.1e5, int(sys.argv[3]) / 5.1e5
print("# Entering and exiting a span: heapwise-tracing's layer vs a no-op layer\n")
print(f"- commit: `{sys.argv[5]}`")
print("- command: `bench/tracing/run.sh` (both on tracing-subscriber's registry, heapwise's allocator in both)")
print(f"- wall clock: {sys.argv[4]} rounds of [noop, heapwise, noop], 1M enter+exit pairs per run (median of 5 runs)")
print("- instructions: callgrind, slope between 100k and 200k pairs (each run makes 5.1 N: a warm-up of N/10 and 5 timed loops of N)\n")
print("| layer | ns per enter+exit (median) | instructions per enter+exit |")
print("|---|---|---|")
print(f"| no-op | {st.median(noop):.1f} | {i_noop:.0f} |")
print(f"| heapwise | {st.median(hw):.1f} | {i_hw:.0f} |")
print(f"\nRatio heapwise / no-op: wall clock x{st.median(ratio):.2f} (quartiles {q[0]:.2f}-{q[2]:.2f}), instructions x{i_hw / i_noop:.2f}. Goal: at most x2.")
PY
rm -f "$raw"
echo "wrote $out" >&2
