#!/usr/bin/env bash
# heapwise run (the preload library) against the plain program and heaptrack,
# on an unmodified Debian binary: sqlite3 loading a generated SQL script.
# preload-only: the library in LD_PRELOAD at the default rate, no profile
# written, no report (the in-process cost alone).
# Whole-command wall time and max RSS (GNU time's %e %M: the largest single
# process of the command's tree), ROUNDS rounds interleaved, medians.
#
# Usage: bench/run_preload.sh [ROUNDS] [ROWS]   (from the repository root,
# after cargo build --release -p heapwise-cli -p heapwise-preload)
set -euo pipefail
rounds=${1:-7}
rows=${2:-200000}
target=$(realpath "${CARGO_TARGET_DIR:-target}/release")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$rows" > "$work/load.sql" <<'PY'
import random, sys
random.seed(1)
n = int(sys.argv[1])
print("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;")
for i in range(n):
    print(f"INSERT INTO t(name, v) VALUES('name-{random.randrange(10**9)}-{'x'*random.randrange(40)}', {random.random()});")
print("COMMIT;\nCREATE INDEX ti ON t(name);")
print("SELECT count(*), sum(length(name)) FROM t GROUP BY substr(name,1,7) ORDER BY 1 DESC LIMIT 3;")
PY
cd "$work"
run() { # name, command...
    local name=$1; shift
    /usr/bin/time -f "$name %e %M" -a -o times.txt "$@" > /dev/null 2>> log.txt
}
for _ in $(seq "$rounds"); do
    run plain sqlite3 :memory: ".read load.sql"
    run preload-only env LD_PRELOAD="$target/libheapwise_preload.so" sqlite3 :memory: ".read load.sql"
    run heapwise-run "$target/heapwise" run -o hw.pb.gz -- sqlite3 :memory: ".read load.sql"
    run heapwise-run-full "$target/heapwise" run --full -o hwf.pb.gz -- sqlite3 :memory: ".read load.sql"
    rm -f heaptrack.*
    run heaptrack heaptrack -o heaptrack.%p sqlite3 :memory: ".read load.sql"
done
python3 - <<'PY'
import statistics
rows = {}
for line in open("times.txt"):
    name, wall, rss = line.split()
    rows.setdefault(name, []).append((float(wall), int(rss)))
plain = statistics.median(w for w, _ in rows["plain"])
ht = statistics.median(w for w, _ in rows["heaptrack"])
print("| command | wall (median s) | vs plain | vs heaptrack | max RSS (median MiB) | rounds |")
print("|---|---|---|---|---|---|")
for name in ["plain", "preload-only", "heapwise-run", "heapwise-run-full", "heaptrack"]:
    w = statistics.median(x for x, _ in rows[name])
    m = statistics.median(r for _, r in rows[name]) / 1024
    print(f"| {name} | {w:.3f} | {w/plain:.2f}x | {w/ht:.2f}x | {m:.1f} | {len(rows[name])} |")
PY
grep -m1 "calls to allocation" log.txt || true
