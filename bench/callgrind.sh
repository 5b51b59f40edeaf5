#!/usr/bin/env bash
# Instruction counts (valgrind --tool=callgrind), stable on a noisy machine.
#
#   bench/callgrind.sh [--out FILE]
#
# For each configuration and single-threaded workload, runs the binary twice
# (1 timed run, no warm-up) at two sizes N1 < N2 and reports the slope
# (Ir(N2) - Ir(N1)) / (N2 - N1): instructions per unit of work (pair, key,
# record, item), with start-up and set-up cancelled out, and its ratio to the
# bare inner allocator. heapwise configurations run with the heap profiler off
# and at 512 KiB (and in full mode for the `outside` ones): the profiler's cost
# in instructions, per unit and per sampled allocation. Writes
# bench/results/DATE-COMMIT-callgrind.md (tables by analyze_callgrind.py).
set -euo pipefail

cmd="bench/callgrind.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 1; }

cargo build --release --quiet
bin="$here/target/release"
date_=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[ -n "$(git -C "$here/.." status --porcelain --untracked-files=no -- crates 2>/dev/null)" ] && dirty="-dirty"
mkdir -p results
[ -n "$out" ] || out="results/${date_}-${commit}${dirty}-callgrind.md"
raw="${out%.md}.raw"
: > "$raw"

# "binary mode [arguments]": every heapwise configuration runs with the heap
# profiler off (--profile-rate 0, the fast path as before the profiler) and at
# the default 512 KiB; the two `outside` ones also in full mode (rate 1, every
# allocation sampled), which gives the cost of one sampled allocation.
hw_configs=(
    "heapwise_system outside" "heapwise_system inside"
    "heapwise_system_owner outside" "heapwise_system_owner inside"
    "heapwise_mimalloc outside" "heapwise_mimalloc inside"
    "heapwise_mimalloc_owner outside" "heapwise_mimalloc_owner inside"
)
configs=("base_system bare" "base_mimalloc bare")
for c in "${hw_configs[@]}"; do
    configs+=("$c --profile-rate 0" "$c --profile-rate 512KiB")
done
configs+=(
    "heapwise_system outside --profile-rate 1" "heapwise_mimalloc outside --profile-rate 1"
    "stats_alloc global" "cap global" "tracking_allocator outside" "tracking_allocator inside"
)
# workload N1 N2
sizes=("churn 200000 400000" "churn_alloc 200000 400000" "hashmap 25000 50000" "serde 5000 10000" "mixed 10000 20000")

# mixed frees on a second thread: its count varies a little with the threads'
# interleaving (rarely +0.3%), so it runs 3 times per size and the median counts.
jobs=()
for c in "${configs[@]}"; do
    for s in "${sizes[@]}"; do
        read -r w n1 n2 <<< "$s"
        jobs+=("$w $n1 $c" "$w $n2 $c")
        [ "$w" = mixed ] && jobs+=("$w $n1 $c" "$w $n2 $c" "$w $n1 $c" "$w $n2 $c")
    done
done

run_one() { # workload n binary mode [arguments]
    local w=$1 n=$2 b=$3 mode=$4 out ir rate allocs samples
    shift 4
    # --no-heap-profile: only the cheap check that samples were taken (building
    # the profile would add a constant, and slow valgrind down).
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin/$b" --workload "$w" --mode "$mode" --n "$n" --reps 1 --warmup 0 --no-heap-profile "$@" 2>&1)
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<< "$out")
    rate=$(sed -n 's/.* profile_rate=\([0-9]*\).*/\1/p' <<< "$out")
    allocs=$(sed -n 's/.* counted_allocs=\([0-9-]*\).*/\1/p' <<< "$out")
    samples=$(sed -n 's/.* end_samples=\([0-9]*\).*/\1/p' <<< "$out")
    echo "config=$b mode=$mode rate=${rate:--} workload=$w n=$n ir=$ir allocs=${allocs:--} samples=${samples:--}"
}
export -f run_one
export bin
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_one {}' >> "$raw"

src_hash=$(cat "$here"/../crates/heapwise/src/*.rs "$here"/../crates/heapwise/src/*/*.rs | sha256sum | cut -c1-12)
python3 "$here/analyze_callgrind.py" "$raw" "$date_" "$commit$dirty" "$cmd" "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(valgrind --version)" "$src_hash" > "$out"
echo "wrote $out" >&2
