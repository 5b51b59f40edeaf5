#!/usr/bin/env bash
# Instruction counts (valgrind --tool=callgrind), stable on a noisy machine.
#
#   bench/callgrind.sh [--out FILE]
#
# For each configuration and single-threaded workload, runs the binary twice
# (1 timed run, no warm-up) at two sizes N1 < N2 and reports the slope
# (Ir(N2) - Ir(N1)) / (N2 - N1): instructions per unit of work (pair, key,
# record), with start-up and set-up cancelled out, and its ratio to the bare
# inner allocator. Writes bench/results/DATE-COMMIT-callgrind.md.
set -euo pipefail

cmd="bench/callgrind.sh $*"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
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

configs=(
    "base_system bare" "heapwise_system outside" "heapwise_system inside"
    "heapwise_system_owner outside" "heapwise_system_owner inside"
    "base_mimalloc bare" "heapwise_mimalloc outside" "heapwise_mimalloc inside"
    "heapwise_mimalloc_owner outside" "heapwise_mimalloc_owner inside"
    "stats_alloc global" "cap global" "tracking_allocator outside" "tracking_allocator inside"
)
# workload N1 N2
sizes=("churn 200000 400000" "churn_alloc 200000 400000" "hashmap 25000 50000" "serde 5000 10000")

jobs=()
for c in "${configs[@]}"; do
    for s in "${sizes[@]}"; do
        read -r w n1 n2 <<< "$s"
        jobs+=("$c $w $n1" "$c $w $n2")
    done
done

run_one() {
    local b=$1 mode=$2 w=$3 n=$4 ir
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin/$b" --workload "$w" --mode "$mode" --n "$n" --reps 1 --warmup 0 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "config=$b mode=$mode workload=$w n=$n ir=$ir"
}
export -f run_one
export bin
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_one {}' >> "$raw"

src_hash=$(cat "$here"/../crates/heapwise/src/*.rs | sha256sum | cut -c1-12)
python3 - "$raw" "$date_" "$commit$dirty" "$cmd" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(valgrind --version)" "$src_hash" > "$out" <<'EOF'
import collections, sys
raw, date, commit, cmd, nproc, cpu, vg, src_hash = sys.argv[1:]
ir = collections.defaultdict(dict)
for line in open(raw):
    kv = dict(t.split("=", 1) for t in line.split())
    ir[(kv["config"], kv["mode"], kv["workload"])][int(kv["n"])] = int(kv["ir"])
base = {"base_mimalloc": "base_mimalloc", "heapwise_mimalloc": "base_mimalloc", "heapwise_mimalloc_owner": "base_mimalloc"}
order = []
for k in ir:
    if k[:2] not in order:
        order.append(k[:2])
wls = ["churn", "churn_alloc", "hashmap", "serde"]
unit = {"churn": "pair", "churn_alloc": "pair", "hashmap": "key", "serde": "record"}
def slope(k):
    d = ir.get(k)
    if not d or len(d) < 2:
        return None
    (n1, a), (n2, b) = sorted(d.items())
    return (b - a) / (n2 - n1)
print(f"# heapwise instruction counts (callgrind), {date}, commit {commit}\n")
print(f"- date (UTC): {date}; commit `{commit}` (heapwise sources sha256 `{src_hash}`); {nproc} CPUs, {cpu}; {vg}")
print(f"- command: `{cmd}`")
print("- figure: instructions per unit (pair, key, record) = (Ir(N2) - Ir(N1)) / (N2 - N1); sizes N1/N2: " +
      ", ".join(f"{w} {'/'.join(str(n) for n in sorted(ir[('base_system','bare',w)]))}" for w in wls))
print("- `+d`: extra instructions per unit over the bare inner allocator (base_system, or base_mimalloc for heapwise_mimalloc*); `x`: ratio\n")
print("| config | mode | " + " | ".join(f"{w} Ir/{unit[w]}" for w in wls) + " |")
print("|---|---|" + "---|" * len(wls))
for c, m in order:
    cells = []
    for w in wls:
        s = slope((c, m, w))
        b = slope((base.get(c, "base_system"), "bare", w))
        if s is None:
            cells.append("-")
        elif c.startswith("base_") or b is None:
            cells.append(f"{s:.1f}")
        else:
            cells.append(f"{s:.1f} ({s - b:+.1f}, x{s / b:.3f})")
    print(f"| {c} | {m} | " + " | ".join(cells) + " |")
EOF
echo "wrote $out" >&2
