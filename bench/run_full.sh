#!/usr/bin/env bash
# Full recording (every allocation) side by side: the plain program, heapwise
# at rate 1 and heaptrack, on a real workload with millions of live blocks
# (`events`: serde_json parsing ~50 MB of GitHub-event-like JSON into kept
# `serde_json::Value`s) and on `mixed`. Writes
# bench/results/DATE-COMMIT-full.md (and the raw lines in .raw).
#
#   bench/run_full.sh [--rounds R] [--out FILE] [--quick]
#
# Every process runs the workload once (no warm-up) and is timed whole with
# /usr/bin/time: wall time (start-up, generating the input, the run, writing
# the profile: heapwise --write-profile, heaptrack's .zst) and max RSS (for
# heaptrack the largest process of its tree: the target or heaptrack_interpret).
# In each round the three configurations run back to back per workload, order
# alternating; a figure is the median over rounds, a ratio the median of the
# per-round ratios. After the rounds one heapwise run per workload with a
# warm-up takes the profiler's memory (profile::memory()) at the workload's
# peak, all its blocks alive.
set -euo pipefail

cmd="bench/run_full.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
rounds=5
out=""
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        --out) out="$2"; shift ;;
        --quick) quick=1; rounds=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v heaptrack > /dev/null || { echo "heaptrack is not installed (apt-get install -y heaptrack)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install -y time)" >&2; exit 1; }

cargo build --release --quiet --bin base_system --bin heapwise_system
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
[ -n "$out" ] || out="results/${date_}-${commit}${dirty}-full${suffix}.md"
raw="${out%.md}.raw"
: > "$raw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A N=([events]=50000 [mixed]=300000)
[ $quick = 1 ] && N=([events]=5000 [mixed]=30000)
configs=(plain heapwise heaptrack)

run_one() { # round workload config
    local r=$1 w=$2 c=$3 prog line
    rm -f "$tmp"/ht* "$tmp"/heap.pb.gz
    case $c in
        plain) prog=("$bin/base_system" --mode bare) ;;
        heapwise) prog=("$bin/heapwise_system" --mode outside --profile-rate 1 --write-profile "$tmp/heap.pb.gz") ;;
        heaptrack) prog=(heaptrack -o "$tmp/ht" "$bin/base_system" --mode bare) ;;
    esac
    line=$(/usr/bin/time -o "$tmp/time" -f "wall_s=%e maxrss_kb=%M" \
        "${prog[@]}" --workload "$w" --n "${N[$w]}" --warmup 0 --reps 1 2>/dev/null | grep '^RESULT')
    echo "round=$r label=$c $(cat "$tmp/time") $line" >> "$raw"
}

start=$(date +%s)
for ((r = 0; r < rounds; r++)); do
    for w in events mixed; do
        for ((k = 0; k < 3; k++)); do
            if ((r % 2)); then c=${configs[$((2 - k))]}; else c=${configs[$k]}; fi
            run_one "$r" "$w" "$c"
        done
    done
    echo "round $((r + 1))/$rounds done after $(( $(date +%s) - start )) s" >&2
done
for w in events mixed; do
    line=$("$bin/heapwise_system" --mode outside --profile-rate 1 --workload "$w" --n "${N[$w]}" \
        --warmup 1 --reps 1 --no-heap-profile 2>/dev/null | grep '^RESULT')
    echo "round=memory label=heapwise $line" >> "$raw"
done
elapsed=$(( $(date +%s) - start ))

python3 - "$raw" > "$out" <<EOF
import re, statistics, sys
rows = [dict(re.findall(r'(\w+)=(\S+)', l)) for l in open(sys.argv[1])]
med = statistics.median
print("# Full recording: plain, heapwise rate 1, heaptrack ($date_, $commit$dirty)")
print()
print("Command: \`$cmd\` ($rounds rounds, $elapsed s). $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $(rustc --version); $(heaptrack --version 2>&1 | head -1).")
print()
print("Wall = the whole process (/usr/bin/time), run = the workload timed inside the")
print("process (heaptrack: the same binary as plain, timed inside it). Ratios: median")
print("of per-round ratios to the plain run of the same round.")
print()
print("| workload | config | wall s | x plain | run ms | x plain | max RSS MiB | vs heaptrack wall |")
print("|---|---|---|---|---|---|---|---|")
timed = [x for x in rows if x['round'] != 'memory']
for w in ['events', 'mixed']:
    by = {}
    for x in timed:
        if x['workload'] == w:
            by.setdefault(x['round'], {})[x['label']] = x
    for c in ['plain', 'heapwise', 'heaptrack']:
        rs = [v for v in by.values() if c in v and 'plain' in v]
        wall = med([float(v[c]['wall_s']) for v in rs])
        run = med([float(v[c]['ms_per_run']) for v in rs])
        rw = med([float(v[c]['wall_s']) / float(v['plain']['wall_s']) for v in rs])
        rr = med([float(v[c]['ms_per_run']) / float(v['plain']['ms_per_run']) for v in rs])
        rss = med([int(v[c]['maxrss_kb']) / 1024 for v in rs])
        vs = med([float(v[c]['wall_s']) / float(v['heaptrack']['wall_s']) for v in rs if 'heaptrack' in v])
        print(f"| {w} (n={rs[0][c]['n']}) | {c} | {wall:.2f} | x{rw:.2f} | {run:.0f} | x{rr:.2f} | {rss:.0f} | x{vs:.2f} |")
print()
print("Profiler memory at the workload's peak (heapwise rate 1, profile::memory() in the untimed warm-up run):")
print()
print("| workload | live blocks | stacks | buckets | total bytes | bytes per live block (all of it) | over 24 B/block + 200 B/stack |")
print("|---|---|---|---|---|---|---|")
for x in rows:
    if x['round'] != 'memory':
        continue
    live, stacks, total = int(x['peak_live_samples']), int(x['peak_stacks']), int(x['peak_total_bytes'])
    budget = 24 * live + 200 * stacks
    print(f"| {x['workload']} | {live} | {stacks} | {x['peak_buckets']} | {total} | {total / max(live, 1):.1f} | {'within' if total <= budget else 'OVER'} ({total} vs {budget}) |")
print()
print("Raw lines: \`" + sys.argv[1].split('/')[-1] + "\`.")
EOF
echo "wrote $out" >&2
