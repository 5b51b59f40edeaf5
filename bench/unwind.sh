#!/usr/bin/env bash
# The stack walk's cost, frame pointers vs CFI, on the mixed workload.
#
#   bench/unwind.sh [--rounds R]
#
# 1. Instructions (callgrind, rate 1, n = 3000): the walk's inclusive
#    instructions per sample (`walk::walk`), per HEAPWISE_UNWIND mode, and
#    the one-off table build (`modules::refresh`).
# 2. Wall clock (rate 1, n = 30000, interleaved rounds): ns per item at
#    --max-depth 64 and 1 per mode; (t64 - t1) / samples per item is the
#    walk's cost per sample beyond its first frames.
# 3. Wall clock at 512 KiB (default n, interleaved rounds): profiling off vs
#    HEAPWISE_UNWIND=auto vs fp.
# Writes bench/results/DATE-COMMIT-unwind.raw (RESULT lines and callgrind
# figures); the .md beside it is written by hand from it.
set -euo pipefail

cmd="bench/unwind.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
rounds=5
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cargo build --release --quiet --bin heapwise_system
bin="$here/target/release/heapwise_system"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[ -n "$(git -C "$here/.." status --porcelain --untracked-files=no -- crates 2>/dev/null)" ] && dirty="-dirty"
mkdir -p results
raw="results/$(date -u +%Y-%m-%d)-${commit}${dirty}-unwind.raw"
{
    echo "# $cmd"
    echo "# commit $commit$dirty, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$raw"

echo "== instructions (callgrind)" | tee -a "$raw"
for mode in fp cfi auto; do
    out=$(mktemp)
    HEAPWISE_UNWIND=$mode valgrind -q --tool=callgrind --callgrind-out-file="$out" \
        "$bin" --workload mixed --mode outside --profile-rate 1 --reps 1 --warmup 0 --n 3000 \
        --no-heap-profile > "$out.stdout" 2> /dev/null
    samples=$(grep -o 'end_samples=[0-9]*' "$out.stdout" | cut -d= -f2)
    walk=$(callgrind_annotate --inclusive=yes "$out" 2> /dev/null |
        awk '/unwind::walk::walk \[/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    refresh=$(callgrind_annotate --inclusive=yes "$out" 2> /dev/null |
        awk '/unwind::modules::refresh \[/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    echo "CALLGRIND mode=$mode samples=$samples walk_ir=$walk refresh_ir=${refresh:-0} walk_ir_per_sample=$(( walk / samples ))" | tee -a "$raw"
    rm -f "$out" "$out.stdout"
done

echo "== wall clock, rate 1" | tee -a "$raw"
for r in $(seq "$rounds"); do
    for mode in fp cfi; do
        for depth in 64 1; do
            line=$(HEAPWISE_UNWIND=$mode "$bin" --workload mixed --mode outside --profile-rate 1 \
                --max-depth "$depth" --reps 3 --warmup 1 --n 30000 --no-heap-profile | grep '^RESULT')
            echo "$line unwind=$mode max_depth=$depth round=$r" | tee -a "$raw"
        done
    done
done

echo "== wall clock, 512 KiB" | tee -a "$raw"
for r in $(seq "$rounds"); do
    for mode in off auto fp; do
        if [ "$mode" = off ]; then
            line=$("$bin" --workload mixed --mode outside --profile-rate 0 --reps 5 --warmup 1 | grep '^RESULT')
        else
            line=$(HEAPWISE_UNWIND=$mode "$bin" --workload mixed --mode outside --profile-rate 512KiB \
                --reps 5 --warmup 1 --no-heap-profile | grep '^RESULT')
        fi
        echo "$line unwind=$mode round=$r" | tee -a "$raw"
    done
done
echo "wrote $raw"
