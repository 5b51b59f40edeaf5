#!/usr/bin/env bash
# Instructions per malloc/free pair under the preload library, against
# glibc alone (valgrind --tool=callgrind; the slope between two sizes, so
# start-up, the unwind tables and the first samples cancel out).
#
#   bench/preload_callgrind.sh [PRELOAD.so ...]   (from the repository root,
#   after cargo build --release -p heapwise-preload; default: that build)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/churn" "$here/preload/churn.c"
[ $# -gt 0 ] || set -- "$(realpath "${CARGO_TARGET_DIR:-target}/release/libheapwise_preload.so")"
ir() { # preload (or ""), pairs
    LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
        "$work/churn" "$2" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,
}
slope() {
    local a b
    a=$(ir "$1" 200000)
    b=$(ir "$1" 400000)
    echo "scale=1; ($b - $a) / 200000" | bc
}
base=$(slope "")
echo "| library | instructions per pair | over glibc |"
echo "|---|---|---|"
echo "| glibc alone | $base | 0 |"
for so in "$@"; do
    s=$(slope "$so")
    echo "| $so | $s | $(echo "$s - $base" | bc) |"
done
