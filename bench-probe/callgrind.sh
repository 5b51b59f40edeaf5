#!/usr/bin/env bash
# Instructions per event (valgrind --tool=callgrind), stable on a noisy
# machine: for each case, Ir at two loop sizes N1 < N2 (1 run, no warm-up);
# the slope (Ir(N2) - Ir(N1)) / (N2 - N1) is the instructions per loop
# iteration (call + event), start-up cancelled out. Prints a markdown table;
# `+empty` is the slope minus the empty call's.
#
#   bench-probe/callgrind.sh [N1 N2]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
n1=${1:-100000}
n2=${2:-200000}
command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build --release --quiet
bin="$here/target/release/heapwise-probe-bench"
cases=(empty off nop1 probe1 probe2 probe4 scoped1 tracing_none tracing_noop)
ir() { # case n
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --case "$1" --n "$2" --reps 1 --warmup 0 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A slope
for c in "${cases[@]}"; do
    a=$(ir "$c" "$n1")
    b=$(ir "$c" "$n2")
    slope[$c]=$(python3 -c "print(($b - $a) / ($n2 - $n1))")
done
echo "| case | instructions/iteration | +empty |"
echo "|---|---|---|"
for c in "${cases[@]}"; do
    python3 -c "s=${slope[$c]}; e=${slope[empty]}; print(f'| $c | {s:.1f} | {s-e:+.1f} |')"
done
