#!/usr/bin/env bash
# heapwise run (the preload library) against the plain program and heaptrack
# on several unmodified Debian binaries: sqlite3 loading a generated SQL
# script, python3 building a large dict, xz compressing a generated file,
# and cc1plus (g++'s compiler proper, run directly with the arguments the
# driver gives it: heaptrack does not follow the driver's exec) compiling a
# small C++ file.
# Whole-command wall time and max RSS (GNU time's %e %M: the largest single
# process of the command's tree), ROUNDS rounds interleaved, medians.
#
# Usage: bench/run_preload_programs.sh [ROUNDS]   (from the repository root,
# after cargo build --release -p heapwise-cli -p heapwise-preload)
set -euo pipefail
rounds=${1:-3}
target=$(realpath "${CARGO_TARGET_DIR:-target}/release")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 - > load.sql <<'PY'
import random
random.seed(1)
print("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;")
for i in range(100000):
    print(f"INSERT INTO t(name, v) VALUES('name-{random.randrange(10**9)}-{'x'*random.randrange(40)}', {random.random()});")
print("COMMIT;\nCREATE INDEX ti ON t(name);")
PY
python3 -c '
import random
random.seed(2)
with open("input.txt", "w") as f:
    for i in range(1000000):
        f.write(f"line {random.randrange(10**6)} value {random.randrange(1000)}\n")'
cat > small.cc <<'CC'
#include <map>
#include <string>
#include <vector>
#include <iostream>
#include <algorithm>
int main() {
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 100; i++) m[std::to_string(i)].push_back(i);
    std::cout << m.size() << '\n';
}
CC
read -r -a cc1plus < <(g++ -### -O1 -S small.cc -o small.s 2>&1 | grep '/cc1plus ' | tr -d '"')
run() { # program, name, command...
    local prog=$1 name=$2; shift 2
    /usr/bin/time -f "$prog $name %e %M" -a -o times.txt "$@" > /dev/null 2>> log.txt
}
each() { # program, command...
    local prog=$1; shift
    run "$prog" plain "$@"
    run "$prog" heapwise-run "$target/heapwise" run -o hw.pb.gz -- "$@"
    run "$prog" heapwise-run-full "$target/heapwise" run --full -o hwf.pb.gz -- "$@"
    rm -f heaptrack.*
    run "$prog" heaptrack heaptrack -o heaptrack.%p "$@"
}
for _ in $(seq "$rounds"); do
    each sqlite3 sqlite3 :memory: ".read load.sql"
    each python3 /usr/bin/python3 -c 'd = {str(i): [i] * (i % 7) for i in range(300000)}'
    each xz xz -T1 -6 -c -k input.txt
    each cc1plus "${cc1plus[@]}"
done
python3 - <<'PY'
import statistics
rows = {}
for line in open("times.txt"):
    prog, name, wall, rss = line.split()
    rows.setdefault((prog, name), []).append((float(wall), int(rss)))
print("| program | command | wall (median s) | vs plain | vs heaptrack | max RSS (median MiB) | rounds |")
print("|---|---|---|---|---|---|---|")
for prog in ["sqlite3", "python3", "xz", "cc1plus"]:
    plain = statistics.median(w for w, _ in rows[(prog, "plain")])
    ht = statistics.median(w for w, _ in rows[(prog, "heaptrack")])
    for name in ["plain", "heapwise-run", "heapwise-run-full", "heaptrack"]:
        r = rows[(prog, name)]
        w = statistics.median(x for x, _ in r)
        m = statistics.median(x for _, x in r) / 1024
        print(f"| {prog} | {name} | {w:.3f} | {w/plain:.2f}x | {w/ht:.2f}x | {m:.1f} | {len(r)} |")
PY
