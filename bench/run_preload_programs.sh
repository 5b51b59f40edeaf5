#!/usr/bin/env bash
# heapwise run (the preload library) against the plain program and heaptrack
# on several unmodified Debian binaries: sqlite3 loading a generated SQL
# script, python3 building a large dict, xz compressing a generated file,
# and cc1plus (g++'s compiler proper, run directly with the arguments the
# driver gives it: heaptrack does not follow the driver's exec) compiling a
# small C++ file.
# Whole-command wall time and max RSS (the largest single process of the
# command's tree, from wait4 as GNU time reads it). Paired: each round runs
# a program's four commands back to back, in alternating order, and a
# command's ratio to the plain run and to heaptrack is taken within the
# round; the table gives the median ratio over rounds and its spread (on a
# shared host a command's own runs spread far more than the ratios).
#
# Usage: bench/run_preload_programs.sh [ROUNDS]   (from the repository root,
# after cargo build --release -p heapwise-cli -p heapwise-preload)
set -euo pipefail
rounds=${1:-5}
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
    for i in range(300000):
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
cat > timeit.py <<'PY'
import os, subprocess, sys, time
prog, name, rnd, *cmd = sys.argv[1:]
with open("log.txt", "ab") as err:
    start = time.perf_counter_ns()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e9
child.returncode = os.waitstatus_to_exitcode(status)
if child.returncode != 0:
    print(f"{prog} {name}: exit {child.returncode}", file=sys.stderr)
with open("times.txt", "a") as f:
    f.write(f"{prog} {name} {rnd} {wall:.4f} {usage.ru_maxrss}\n")
PY
each() { # round, program, command...
    local round=$1 prog=$2; shift 2
    local names=(plain heapwise-run heapwise-run-full heaptrack)
    if [ $((round % 2)) = 1 ]; then names=(heaptrack heapwise-run-full heapwise-run plain); fi
    for name in "${names[@]}"; do
        rm -f heaptrack.*
        case $name in
            plain) python3 timeit.py "$prog" "$name" "$round" "$@" ;;
            heapwise-run) python3 timeit.py "$prog" "$name" "$round" "$target/heapwise" run -o hw.pb.gz -- "$@" ;;
            heapwise-run-full) python3 timeit.py "$prog" "$name" "$round" "$target/heapwise" run --full -o hwf.pb.gz -- "$@" ;;
            heaptrack) python3 timeit.py "$prog" "$name" "$round" heaptrack -o heaptrack.%p "$@" ;;
        esac
    done
}
for round in $(seq "$rounds"); do
    each "$round" sqlite3 sqlite3 :memory: ".read load.sql"
    each "$round" python3 /usr/bin/python3 -c 'd = {str(i): [i] * (i % 7) for i in range(300000)}'
    each "$round" xz xz -T1 -6 -c -k input.txt
    each "$round" cc1plus "${cc1plus[@]}"
done
python3 - <<'PY'
import statistics
rows = {}
for line in open("times.txt"):
    prog, name, rnd, wall, rss = line.split()
    rows.setdefault((prog, name), {})[rnd] = (float(wall), int(rss))
def paired(prog, name, base):
    r = [w / rows[(prog, base)][k][0] for k, (w, _) in rows[(prog, name)].items()]
    return f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"
print("| program | command | wall (median s) | vs plain, paired | vs heaptrack, paired | max RSS (median MiB) | rounds |")
print("|---|---|---|---|---|---|---|")
for prog in ["sqlite3", "python3", "xz", "cc1plus"]:
    for name in ["plain", "heapwise-run", "heapwise-run-full", "heaptrack"]:
        r = rows[(prog, name)].values()
        w = statistics.median(x for x, _ in r)
        m = statistics.median(x for _, x in r) / 1024
        print(f"| {prog} | {name} | {w:.3f} | {paired(prog, name, 'plain')} | {paired(prog, name, 'heaptrack')} | {m:.1f} | {len(r)} |")
PY
