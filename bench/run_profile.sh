#!/usr/bin/env bash
# The heap profiler's cost, side by side, as ratios: writes
# bench/results/YYYY-MM-DD-<commit>-profile.md plus the raw lines (.raw).
#
#   bench/run_profile.sh            full run (~8 minutes on 2 cores)
#   bench/run_profile.sh --quick    smoke run (small N, 1 round, ~30 s)
#
# Options: --rounds R   rounds (default 16; quick: 1)
#          --out FILE   results file (default bench/results/DATE-COMMIT-profile.md)
#
# Same method as run.sh: each process measures one configuration (1 warm-up
# run + timed runs, median), and in every round, for every workload, each group
# runs as [base, members..., base], so each member is bracketed by two runs of
# its group's base seconds apart; workload and group order rotate and member
# order alternates from round to round. Groups:
#
#   sys         heapwise over System at rate 0 (base) vs 512 KiB, and bare glibc
#   sys_pinned  the same with glibc's heap trimming and mmap threshold pinned
#               (GLIBC_TUNABLES), which removes a page-fault layout effect
#   mim         heapwise over mimalloc at rate 0 (base) vs 512 KiB, bare mimalloc
#   jem         jemalloc (prof off, base) vs jemalloc prof:true lg_prof_sample:19
#   full        mixed at a smaller N: bare glibc (base) vs heapwise full mode
#               (rate 1), heaptrack (running base_system), dhat, jemalloc
#               lg_prof_sample:0
#
# Every process is also timed whole (start-up, warm-up, timed runs and writing
# its profile: heapwise --write-profile, heaptrack's .zst, dhat's JSON,
# jemalloc's prof.dump) with date (wall) and /usr/bin/time (user+sys CPU of the
# process tree, max RSS).
set -euo pipefail

cmd="bench/run_profile.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

rounds=16
quick=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; rounds=1 ;;
        --rounds) rounds="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v heaptrack > /dev/null || { echo "heaptrack is not installed (apt-get install -y heaptrack)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install -y time)" >&2; exit 1; }

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
[ -n "$out" ] || out="results/${date_}-${commit}${dirty}-profile${suffix}.md"
raw="${out%.md}.raw"
: > "$raw"
tmp=$(mktemp -d /tmp/heapwise-bench-profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Problem sizes (churn: pairs; mixed: items; serde: records) and timed runs per
# process.
declare -A N REPS
if [ "$quick" = 1 ]; then
    N=([churn]=500000 [churn_alloc]=500000 [mixed]=60000 [serde]=20000 [mixed@small]=6000)
else
    N=([churn]=1000000 [churn_alloc]=1000000 [mixed]=300000 [serde]=130000 [mixed@small]=30000)
fi
REPS=([churn]=3 [churn_alloc]=3 [mixed]=1 [serde]=1 [mixed@small]=1)

# glibc with trimming and the mmap threshold pinned (no dynamic threshold).
pinned="GLIBC_TUNABLES=glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=4294967296"

# Entries: label|binary|mode|env (or -)|extra arguments. "heaptrack:BIN" runs
# BIN under heaptrack. @OUT in the arguments is replaced by a fresh temp path.
groups=(sys sys_pinned mim jem full)
declare -A wl=([sys]="churn churn_alloc mixed serde" [sys_pinned]="mixed serde"
    [mim]="churn churn_alloc mixed serde" [jem]="churn churn_alloc mixed serde" [full]="mixed@small")
declare -A base_of=(
    [sys]="heapwise_system@off|heapwise_system|outside|-|--profile-rate 0"
    [sys_pinned]="heapwise_system@off|heapwise_system|outside|$pinned|--profile-rate 0"
    [mim]="heapwise_mimalloc@off|heapwise_mimalloc|outside|-|--profile-rate 0"
    [jem]="jemalloc|jemalloc|bare|-|"
    [full]="base_system|base_system|bare|-|"
)
group_sys=(
    "heapwise_system@512k|heapwise_system|outside|-|--profile-rate 512KiB --write-profile @OUT"
    "base_system|base_system|bare|-|"
)
group_sys_pinned=(
    "heapwise_system@512k|heapwise_system|outside|$pinned|--profile-rate 512KiB --write-profile @OUT"
    "base_system|base_system|bare|$pinned|"
)
group_mim=(
    "heapwise_mimalloc@512k|heapwise_mimalloc|outside|-|--profile-rate 512KiB --write-profile @OUT"
    "base_mimalloc|base_mimalloc|bare|-|"
)
group_jem=("jemalloc_prof@512k|jemalloc_prof|global|-|--profile-rate 512KiB --write-profile @OUT")
group_full=(
    "heapwise_system@full|heapwise_system|outside|-|--profile-rate 1 --write-profile @OUT"
    "heaptrack|heaptrack:base_system|bare|-|"
    "dhat|dhat|global|-|"
    "jemalloc_prof@full|jemalloc_prof|global|-|--profile-rate 1 --write-profile @OUT"
)

seq_=0
run_one() { # round workload group slot entry
    local r=$1 w=$2 g=$3 slot=$4 label b mode envv args n wname line t0 t1 o
    IFS='|' read -r label b mode envv args <<< "$5"
    wname=${w%@small}
    n=${N[$w]}
    seq_=$((seq_ + 1))
    o="$tmp/out.$seq_"
    args=${args//@OUT/$o}
    local -a pre=() prog
    [ "$envv" != "-" ] && pre=(env "$envv")
    if [[ $b == heaptrack:* ]]; then
        prog=(heaptrack -o "$o" "$bin/${b#heaptrack:}")
    else
        prog=("$bin/$b")
    fi
    # shellcheck disable=SC2086
    t0=$(date +%s%N)
    line=$(/usr/bin/time -o "$tmp/time" -f "cpu_s=%U+%S maxrss_kb=%M" \
        "${pre[@]}" "${prog[@]}" --workload "$wname" --mode "$mode" --reps "${REPS[$w]}" --warmup 1 --n "$n" $args \
        2>"$tmp/stderr" | grep '^RESULT') || { echo "FAILED: $label $w" >&2; cat "$tmp/stderr" >&2; exit 1; }
    t1=$(date +%s%N)
    local cpu rss
    cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\)+\([0-9.]*\).*/\1 \2/p' "$tmp/time" | awk '{printf "%.0f", ($1 + $2) * 1000}')
    rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' "$tmp/time")
    local osize=0
    for f in "$o" "$o".*; do [ -f "$f" ] && osize=$((osize + $(stat -c %s "$f"))); done
    rm -f "$o" "$o".*
    echo "round=$r group=$g slot=$slot label=$label wl=$w $line whole_ms=$(( (t1 - t0) / 1000000 )) whole_cpu_ms=$cpu maxrss_kb=$rss out_bytes=${osize:-0}" >> "$raw"
}

# dhat writes its JSON to the temp dir and removes it (see src/bin/dhat.rs).
export TMPDIR="$tmp"
start=$(date +%s)
ng=${#groups[@]}
for ((r = 0; r < rounds; r++)); do
    for ((gi = 0; gi < ng; gi++)); do
        g=${groups[$(((gi + r) % ng))]}
        read -r -a ws <<< "${wl[$g]}"
        nw=${#ws[@]}
        for ((wi = 0; wi < nw; wi++)); do
            w=${ws[$(((wi + r) % nw))]}
            declare -n members="group_$g"
            k=${#members[@]}
            run_one "$r" "$w" "$g" 0 "${base_of[$g]}"
            for ((m = 0; m < k; m++)); do
                if ((r % 2)); then idx=$((k - 1 - m)); else idx=$m; fi
                run_one "$r" "$w" "$g" $((m + 1)) "${members[$idx]}"
            done
            run_one "$r" "$w" "$g" $((k + 1)) "${base_of[$g]}"
            unset -n members
        done
    done
    echo "round $((r + 1))/$rounds done after $(( $(date +%s) - start )) s" >&2
done
# Profiler memory in full mode at the full sizes (one process each, no ratio).
for w in mixed serde; do
    run_one 0 "$w" mem 0 "heapwise_system@full|heapwise_system|outside|-|--profile-rate 1"
done
elapsed=$(( $(date +%s) - start ))

src_hash=$(cat "$here"/../crates/heapwise/src/*.rs "$here"/../crates/heapwise/src/*/*.rs | sha256sum | cut -c1-12)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 "$here/analyze_profile.py" "$raw" \
    --date "$date_" --commit "$commit$dirty" --cmd "$cmd" --nproc "$(nproc)" --cpu "$cpu" \
    --rounds "$rounds" --elapsed "$elapsed" --src-hash "$src_hash" --rustc "$(rustc --version)" \
    --glibc "$(ldd --version | head -1)" --heaptrack "$(heaptrack --version 2>&1 | head -1)" \
    --sizes "$(for k in "${!N[@]}"; do echo -n "$k=${N[$k]} "; done)" > "$out"
echo "wrote $out (raw lines: $raw)" >&2
