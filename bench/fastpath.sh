#!/usr/bin/env bash
# The allocator fast path over glibc, as a paired ratio: in every round each
# workload runs as [base_system, heapwise_system, base_system], seconds
# apart, and the round's ratio is heapwise's figure over the mean of its two
# bracketing base runs (a shared VM's speed shifts for seconds at a time;
# within a bracket it shifts little). The figure is the median over rounds,
# with the quartiles.
#
#   bench/fastpath.sh [--rounds R] [--mode inside|outside] [--rate 512KiB|off] [BIN...]
#
# The rate goes in HEAPWISE_PROFILE_RATE (older binaries take no flag).
# BIN: heapwise binaries to compare (default target/release/heapwise_system);
# each is bracketed by base_system. Prints a markdown table.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
rounds=30 mode=inside rate=512KiB bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        --mode) mode="$2"; shift ;;
        --rate) rate="$2"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) bins+=("$1") ;;
    esac
    shift
done
[ ${#bins[@]} -gt 0 ] || { cargo build --release --quiet; bins=(target/release/heapwise_system); }
base=target/release/base_system
ns() { "$@" 2>&1 | sed -n 's/.* ns_per_unit=\([0-9.]*\).*/\1/p'; }
raw=$(mktemp)
for r in $(seq 1 "$rounds"); do
    for w in ${WORKLOADS:-churn churn2t churn_alloc}; do
        for b in "${bins[@]}"; do
            a=$(ns $base --workload $w --mode bare --reps 3)
            h=$(HEAPWISE_PROFILE_RATE="$rate" ns "$b" --workload $w --mode "$mode" --reps 3)
            c=$(ns $base --workload $w --mode bare --reps 3)
            echo "$w $(basename "$b") $b $a $h $c" >> "$raw"
        done
    done
done
python3 - "$raw" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    w, name, path, a, h, c = line.split()
    rows.setdefault((w, path), []).append(float(h) / ((float(a) + float(c)) / 2))
print("| workload | binary | rounds | median ratio | quartiles |")
print("|---|---|---|---|---|")
for (w, path), rs in rows.items():
    q = st.quantiles(rs, n=4)
    print(f"| {w} | {path} | {len(rs)} | x{st.median(rs):.3f} | {q[0]:.3f}-{q[2]:.3f} |")
PY
rm -f "$raw"
