#!/usr/bin/env bash
# Compares heapwise's allocator fast path at two commits, side by side in one
# run: did a change move the allocator benchmarks?
#
#   bench/compare_revs.sh OLD NEW [--rounds R] [--out FILE]
#
# Builds the heapwise_system and heapwise_mimalloc benchmark binaries at both
# commits (git worktrees under /tmp, own target dirs), then
#  1. instructions per unit of work (valgrind --tool=callgrind, slope between
#     two sizes, as in callgrind.sh) for churn, churn_alloc and mixed, scopes
#     off (outside) and on (inside), profiler at its default 512 KiB;
#  2. wall clock: R rounds, each running every (binary, workload, mode) at
#     OLD and NEW back to back, order alternating per round; the figure is
#     the median over rounds of NEW/OLD.
# Writes bench/results/DATE-OLD-vs-NEW.md.
set -euo pipefail

cmd="bench/compare_revs.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
old=$(git -C "$root" rev-parse --short "$1")
new=$(git -C "$root" rev-parse --short "$2")
shift 2
rounds=12
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        --out) out="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
bins=(heapwise_system heapwise_mimalloc)

declare -A dir
for rev in "$old" "$new"; do
    wt="/tmp/heapwise-rev-$rev"
    [ -d "$wt" ] || git -C "$root" worktree add --detach "$wt" "$rev" > /dev/null
    (cd "$wt/bench" && CARGO_TARGET_DIR="/tmp/heapwise-rev-target-$rev" \
        cargo build --release --quiet $(printf -- '--bin %s ' "${bins[@]}"))
    dir[$rev]="/tmp/heapwise-rev-target-$rev/release"
done

date_=$(date -u +%Y-%m-%d)
mkdir -p "$here/results"
[ -n "$out" ] || out="$here/results/${date_}-${old}-vs-${new}.md"
raw="${out%.md}.raw"
: > "$raw"

cg() { # rev bin workload mode n -> instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "${dir[$1]}/$2" \
        --workload "$3" --mode "$4" --n "$5" --reps 1 --warmup 0 --no-heap-profile 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
sizes=("churn 200000 400000" "churn_alloc 200000 400000" "mixed 10000 20000")
for rev in "$old" "$new"; do
    for b in "${bins[@]}"; do
        for mode in outside inside; do
            for s in "${sizes[@]}"; do
                read -r w n1 n2 <<< "$s"
                i1=$(cg "$rev" "$b" "$w" "$mode" "$n1")
                i2=$(cg "$rev" "$b" "$w" "$mode" "$n2")
                echo "kind=ir rev=$rev bin=$b mode=$mode workload=$w slope=$(awk "BEGIN { printf \"%.3f\", ($i2 - $i1) / ($n2 - $n1) }")" >> "$raw"
            done
        done
    done
done

wall() { # rev bin workload mode -> ns per unit
    "${dir[$1]}/$2" --workload "$3" --mode "$4" --reps 3 --no-heap-profile |
        sed -n 's/.* ns_per_unit=\([0-9.]*\).*/\1/p'
}
for r in $(seq 1 "$rounds"); do
    for b in "${bins[@]}"; do
        for mode in outside inside; do
            for w in churn churn_alloc mixed; do
                if [ $((r % 2)) -eq 0 ]; then order=("$old" "$new"); else order=("$new" "$old"); fi
                for rev in "${order[@]}"; do
                    echo "kind=ns round=$r rev=$rev bin=$b mode=$mode workload=$w ns=$(wall "$rev" "$b" "$w" "$mode")" >> "$raw"
                done
            done
        done
    done
done

python3 - "$raw" "$old" "$new" "$date_" "$cmd" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" > "$out" <<'EOF'
import sys, statistics as st, collections
raw, old, new, date, cmd, cpu = sys.argv[1:]
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(raw) if l.strip()]
print(f"# Allocator fast path: {old} vs {new}\n")
print(f"- date: {date}\n- command: `{cmd}`\n- machine: {cpu}, 2 cores, shared VM\n")
print("## Instructions per unit (callgrind slope, profiler at 512 KiB)\n")
print(f"| binary | mode | workload | {old} | {new} | change |\n|---|---|---|---|---|---|")
ir = {(r["rev"], r["bin"], r["mode"], r["workload"]): float(r["slope"]) for r in rows if r["kind"] == "ir"}
for (rev, b, m, w), v in sorted(ir.items()):
    if rev != old:
        continue
    n = ir[(new, b, m, w)]
    print(f"| {b} | {m} | {w} | {v:.2f} | {n:.2f} | {n - v:+.2f} ({(n / v - 1) * 100:+.2f}%) |")
print("\n## Wall clock (median over rounds of the per-round ratio NEW/OLD)\n")
print(f"| binary | mode | workload | {old} ns/unit | {new} ns/unit | ratio |\n|---|---|---|---|---|---|")
ns = collections.defaultdict(dict)
for r in rows:
    if r["kind"] == "ns":
        ns[(r["bin"], r["mode"], r["workload"])].setdefault(r["round"], {})[r["rev"]] = float(r["ns"])
for k, rounds in sorted(ns.items()):
    o = st.median(v[old] for v in rounds.values())
    n = st.median(v[new] for v in rounds.values())
    ratio = st.median(v[new] / v[old] for v in rounds.values())
    print(f"| {k[0]} | {k[1]} | {k[2]} | {o:.2f} | {n:.2f} | x{ratio:.3f} |")
EOF
echo "wrote $out" >&2
