#!/usr/bin/env bash
# Runs every benchmark binary interleaved over several rounds and writes
# bench/results/YYYY-MM-DD-<commit>.md (medians, ratios) plus the raw lines.
#
#   bench/run.sh            full run (~7 minutes on 2 cores)
#   bench/run.sh --quick    smoke run (small N, 1 round, ~10 s)
#
# Options: --rounds R     rounds (default 18; quick: 1)
#          --reps R       timed runs per churn process, median taken (default 3)
#          --reps-big R   timed runs per hashmap/serde process (default 1)
#          --out FILE     results file (default bench/results/DATE-COMMIT.md)
#
# Each process measures one (binary, workload, mode): a warm-up run, then the
# timed runs, and prints their median. In every round, for every workload, each
# group of configurations runs as [bare base, comparands..., bare base]: every
# comparand is bracketed by two runs of its bare inner allocator seconds apart,
# so the machine's speed (which on a shared VM shifts by up to 2x for seconds
# at a time) changes little within a pair. Workload and group order rotate and
# comparand order alternates from round to round. A configuration's figure is
# the median over rounds; its ratio is the median over rounds of the per-round
# ratio to the mean of its two bracketing base runs.
set -euo pipefail

cmd="bench/run.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

rounds=18
reps=3
reps_big=1
quick=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; rounds=1; reps=1 ;;
        --rounds) rounds="$2"; shift ;;
        --reps) reps="$2"; shift ;;
        --reps-big) reps_big="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cargo build --release --quiet
bin="$here/target/release"

date_=$(date -u +%Y-%m-%d)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if [ -n "$(git -C "$here/.." status --porcelain --untracked-files=no -- crates 2>/dev/null)" ]; then
    dirty="-dirty"
fi
mkdir -p results
suffix=""
[ "$quick" = 1 ] && suffix="-quick"
[ -n "$out" ] || out="results/${date_}-${commit}${dirty}${suffix}.md"
raw="${out%.md}.raw"
: > "$raw"

workloads=(churn churn2t churn_alloc churn2t_alloc hashmap serde)

# Problem sizes (units: pairs, pairs per thread, keys, records).
declare -A N SMALL REPS
# Timed repetitions per process (median taken): short churn processes get 3,
# hashmap and serde (0.1-0.3 s per run) 1, so that a round stays short and the
# machine's speed changes little between a comparand and its bracketing bases.
REPS=([churn]=$reps [churn2t]=$reps [churn_alloc]=$reps [churn2t_alloc]=$reps [hashmap]=$reps_big [serde]=$reps_big)
if [ "$quick" = 1 ]; then
    N=([churn]=500000 [churn2t]=500000 [churn_alloc]=500000 [churn2t_alloc]=500000 [hashmap]=50000 [serde]=20000)
    SMALL=([churn]=5000 [churn2t]=2500 [churn_alloc]=5000 [churn2t_alloc]=2500 [hashmap]=2000 [serde]=1000)
else
    N=([churn]=1000000 [churn2t]=1000000 [churn_alloc]=1000000 [churn2t_alloc]=1000000 [hashmap]=200000 [serde]=130000)
    # dhat is 100-1000x slower: smaller N, compared with base_system at the same N.
    SMALL=([churn]=50000 [churn2t]=25000 [churn_alloc]=50000 [churn2t_alloc]=25000 [hashmap]=10000 [serde]=6500)
fi

# Groups: each is run as [base, comparands..., base], so every comparand is
# bracketed by two runs of its bare inner allocator a few seconds apart.
# Entries: "label binary mode size-class".
group_system=(
    "heapwise_system heapwise_system outside N"
    "heapwise_system heapwise_system inside N"
    "heapwise_system_owner heapwise_system_owner outside N"
    "heapwise_system_owner heapwise_system_owner inside N"
    "stats_alloc stats_alloc global N"
    "cap cap global N"
    "tracking_allocator tracking_allocator outside N"
    "tracking_allocator tracking_allocator inside N"
)
group_mimalloc=(
    "heapwise_mimalloc heapwise_mimalloc outside N"
    "heapwise_mimalloc heapwise_mimalloc inside N"
    "heapwise_mimalloc_owner heapwise_mimalloc_owner outside N"
    "heapwise_mimalloc_owner heapwise_mimalloc_owner inside N"
)
group_small=("dhat dhat global SMALL")
declare -A base_of=([system]="base_system base_system bare N" [mimalloc]="base_mimalloc base_mimalloc bare N" [small]="base_system@small base_system bare SMALL")

run_one() { # round workload group slot entry...
    local r=$1 w=$2 g=$3 slot=$4 label b mode size n reps_w line
    read -r label b mode size <<< "$5"
    if [ "$size" = N ]; then n=${N[$w]}; else n=${SMALL[$w]}; fi
    reps_w=${REPS[$w]}
    line=$("$bin/$b" --workload "$w" --mode "$mode" --reps "$reps_w" --warmup 1 --n "$n" 2>/dev/null | grep '^RESULT')
    echo "round=$r group=$g slot=$slot label=$label $line" >> "$raw"
}

start=$(date +%s)
nw=${#workloads[@]}
groups=(system mimalloc small)
for ((r = 0; r < rounds; r++)); do
    for ((wi = 0; wi < nw; wi++)); do
        w=${workloads[$(((wi + r) % nw))]}
        for ((gi = 0; gi < 3; gi++)); do
            g=${groups[$(((gi + r) % 3))]}
            declare -n members="group_$g"
            k=${#members[@]}
            run_one "$r" "$w" "$g" 0 "${base_of[$g]}"
            for ((m = 0; m < k; m++)); do
                # Alternate the comparands' order from round to round.
                if ((r % 2)); then idx=$((k - 1 - m)); else idx=$m; fi
                run_one "$r" "$w" "$g" $((m + 1)) "${members[$idx]}"
            done
            run_one "$r" "$w" "$g" $((k + 1)) "${base_of[$g]}"
            unset -n members
        done
    done
    echo "round $((r + 1))/$rounds done after $(( $(date +%s) - start )) s" >&2
done
elapsed=$(( $(date +%s) - start ))

src_hash=$(cat "$here"/../crates/heapwise/src/*.rs | sha256sum | cut -c1-12)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 "$here/analyze.py" "$raw" \
    --date "$date_" --commit "$commit$dirty" --cmd "$cmd" --nproc "$(nproc)" --cpu "$cpu" \
    --rounds "$rounds" --reps "$reps" --elapsed "$elapsed" \
    --src-hash "$src_hash" --rustc "$(rustc --version)" --glibc "$(ldd --version | head -1)" > "$out"
echo "wrote $out (raw lines: $raw)" >&2
