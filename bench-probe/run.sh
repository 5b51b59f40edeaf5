#!/usr/bin/env bash
# heapwise-probe events against an empty call and the tracing crate:
# interleaved rounds, medians, ratios; then instruction counts (callgrind.sh)
# and the disassembly of the event's call site. Writes
# bench-probe/results/DATE-COMMIT.md (and the raw lines next to it).
#
#   bench-probe/run.sh            full run (~2 minutes on 2 cores)
#   bench-probe/run.sh --quick    smoke run (1 round, small N)
#
# Each process measures one case: a warm-up, then --reps timed runs of N
# calls, and prints the median ns per call. In every round the cases run as
# [empty, cases..., empty] (order alternating from round to round), so each
# case is compared with the empty-call baseline measured seconds before and
# after it. A case's figure is the median over rounds; `over empty` is the
# median over rounds of (case - mean of the round's two empty runs), `ratio`
# the median of case / that mean.
set -euo pipefail
cmd="bench-probe/run.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
rounds=15
n=30000000
reps=3
quick=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; rounds=1; n=2000000 ;;
        --rounds) rounds="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
cargo build --release --quiet
bin="$here/target/release/heapwise-probe-bench"
date_=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[ -n "$(git -C "$here/.." status --porcelain --untracked-files=no -- crates/heapwise-probe bench-probe 2>/dev/null)" ] && dirty="-dirty"
mkdir -p results
suffix=""
[ "$quick" = 1 ] && suffix="-quick"
[ -n "$out" ] || out="results/${date_}-${commit}${dirty}${suffix}.md"
raw="${out%.md}.raw"
: > "$raw"

# label case env
cases=(
    "off off -"
    "nop1 nop1 -"
    "probe1 probe1 -"
    "probe2 probe2 -"
    "probe4 probe4 -"
    "scoped1 scoped1 -"
    "probe1_fences probe1 HEAPWISE_PROBE_MEMBARRIER=0"
    "tracing_none tracing_none -"
    "tracing_noop tracing_noop -"
)
run_one() { # round slot label case env n
    local line
    if [ "$5" = - ]; then
        line=$("$bin" --case "$4" --n "$6" --reps "$reps" --warmup 1 | grep '^RESULT')
    else
        line=$(env "$5" "$bin" --case "$4" --n "$6" --reps "$reps" --warmup 1 | grep '^RESULT')
    fi
    echo "round=$1 slot=$2 label=$3 $line" >> "$raw"
}
start=$(date +%s)
k=${#cases[@]}
for ((r = 0; r < rounds; r++)); do
    run_one "$r" 0 empty empty - "$n"
    for ((m = 0; m < k; m++)); do
        if ((r % 2)); then idx=$((k - 1 - m)); else idx=$m; fi
        read -r label c e <<< "${cases[$idx]}"
        run_one "$r" $((m + 1)) "$label" "$c" "$e" "$n"
    done
    run_one "$r" $((k + 1)) empty empty - "$n"
    # Attach + detach pairs while another thread fires the event.
    run_one "$r" 0 attach_detach attach_detach - 2000
    run_one "$r" 0 attach_detach_fences attach_detach HEAPWISE_PROBE_MEMBARRIER=0 2000
    echo "round $((r + 1))/$rounds done after $(( $(date +%s) - start )) s" >&2
done
elapsed=$(( $(date +%s) - start ))

cg=$(bash "$here/callgrind.sh")
disasm=$(objdump -d --no-show-raw-insn -C "$bin" | awk '/<heapwise_probe_bench::site_(empty|event)>:/,/^$/' | grep -v 'int3' | sed '/^$/d')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$raw" > "$out" <<PY
import collections, statistics, sys
rows = [dict(t.split("=", 1) for t in l.split() if "=" in t) for l in open(sys.argv[1])]
by_round = collections.defaultdict(list)
for r in rows:
    by_round[r["round"]].append(r)
ns = collections.defaultdict(list); over = collections.defaultdict(list); ratio = collections.defaultdict(list)
order = []
for rnd, rs in by_round.items():
    empties = [float(r["ns"]) for r in rs if r["label"] == "empty"]
    base = sum(empties) / len(empties)
    for r in rs:
        v = float(r["ns"]); l = r["label"]
        if l not in order: order.append(l)
        ns[l].append(v)
        if not l.startswith("attach_detach"):
            over[l].append(v - base); ratio[l].append(v / base)
med = statistics.median
print("# heapwise-probe events: ns per event, ${date_}, commit ${commit}${dirty}\n")
print("- date (UTC): ${date_}; commit \`${commit}${dirty}\`; machine: $(nproc) CPUs, ${cpu}; $(rustc --version); $(valgrind --version 2>/dev/null || echo no valgrind)")
print("- command: \`${cmd}\` (${rounds} rounds, N = ${n} calls x ${reps} timed runs per process, median; ${elapsed} s)")
print("- each iteration calls an \`#[inline(never)]\` site function holding one event (\`empty\`: nothing); trivial probe = one \`fetch_add(1, Relaxed)\` on a static")
print("- \`over empty\`: median over rounds of (case - mean of the round's two empty-call runs); \`ratio\`: median of case / that mean\n")
labels = {
  "empty": "empty \`#[inline(never)]\` call (baseline)",
  "off": "event, no probe attached",
  "nop1": "event, 1 probe that does nothing",
  "probe1": "event, 1 trivial probe",
  "probe2": "event, 2 trivial probes",
  "probe4": "event, 4 trivial probes",
  "scoped1": "event, 1 trivial probe in a thread-scoped group",
  "probe1_fences": "event, 1 trivial probe, fences instead of membarrier",
  "tracing_none": "\`tracing::info!(n)\`, no subscriber",
  "tracing_noop": "\`tracing::info!(n)\`, enabled no-op subscriber",
}
print("| case | ns/event | over empty | ratio |")
print("|---|---|---|---|")
for l in ["empty"] + [x for x in order if x != "empty" and not x.startswith("attach_detach")]:
    o = f"{med(over[l]):+.2f}" if l != "empty" else "-"
    q = f"x{med(ratio[l]):.2f}" if l != "empty" else "-"
    print(f"| {labels.get(l, l)} | {med(ns[l]):.2f} | {o} | {q} |")
def per(l):
    return med(ns[l]) if ns[l] else float("nan")
print(f"\nEach further trivial probe: {(per('probe2') - per('probe1')):.2f} ns (2 vs 1), {(per('probe4') - per('probe2')) / 2:.2f} ns (4 vs 2).\n")
print("| writer | ns per attach + detach pair (another thread firing) |")
print("|---|---|")
for l in ["attach_detach", "attach_detach_fences"]:
    if ns[l]:
        print(f"| {'membarrier' if l == 'attach_detach' else 'fences'} | {med(ns[l]):.0f} |")
print("\n## Instructions per iteration (callgrind.sh: slope between N = 100000 and 200000)\n")
print("""${cg}""")
print("\n## The call site (objdump -d --no-show-raw-insn)\n")
print("\`\`\`text")
print("""${disasm}""")
print("\`\`\`")
PY
echo "wrote $out (raw lines: $raw)" >&2
