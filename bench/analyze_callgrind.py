#!/usr/bin/env python3
"""Turns callgrind.sh's raw lines into the markdown results file (stdout).

Raw line: `config=B mode=M rate=R workload=W n=N ir=I allocs=A samples=S`, one
per (configuration, workload, size); R is the heap profiler's rate (heapwise
only, `-` elsewhere), A the blocks heapwise counted in the run, S the samples
the profiler took. Repeated runs of one size (mixed) count by their median.
The figure is the slope (Ir(N2) - Ir(N1)) / (N2 - N1):
instructions per unit of work with start-up cancelled out.
"""
import collections
import sys

raw, date, commit, cmd, nproc, cpu, vg, src_hash = sys.argv[1:]
WLS = ["churn", "churn_alloc", "hashmap", "serde", "mixed"]
UNIT = {"churn": "pair", "churn_alloc": "pair", "hashmap": "key", "serde": "record", "mixed": "item"}
RATE = {"0": "off", "524288": "512 KiB", "1": "full", "-": ""}
# bench/results/2026-11-22-f6a0cd9-dirty-callgrind.md, before the profiler.
PREVIOUS = {
    ("base_system", "bare"): (259.0, 149.0), ("base_mimalloc", "bare"): (94.4, 86.4),
    ("heapwise_system", "outside"): (281.2, 170.2), ("heapwise_system", "inside"): (281.3, 170.3),
    ("heapwise_system_owner", "outside"): (284.2, 173.2), ("heapwise_system_owner", "inside"): (284.3, 173.3),
    ("heapwise_mimalloc", "outside"): (116.6, 107.6), ("heapwise_mimalloc", "inside"): (116.7, 107.7),
    ("heapwise_mimalloc_owner", "outside"): (128.4, 112.3), ("heapwise_mimalloc_owner", "inside"): (128.5, 112.4),
}

runs = collections.defaultdict(dict)  # (config, mode, rate) -> workload -> {n: kv}
order = []
for line in open(raw):
    kv = dict(t.split("=", 1) for t in line.split())
    key = (kv["config"], kv["mode"], kv["rate"])
    runs[key].setdefault(kv["workload"], {}).setdefault(int(kv["n"]), []).append(kv)
    if key not in order:
        order.append(key)
order.sort(key=lambda k: (0 if k[0].startswith("base") else 1 if k[0].startswith("heapwise") else 2, "mimalloc" in k[0], k[0], k[1], {"0": 0, "524288": 1, "1": 2}.get(k[2], 0)))


def slope(key, w, field="ir"):
    d = runs.get(key, {}).get(w)
    if not d or len(d) < 2:
        return None
    # Repeated runs (mixed): the run with the median count.
    (n1, a), (n2, b) = [(n, sorted(kvs, key=lambda kv: int(kv["ir"]))[len(kvs) // 2]) for n, kvs in sorted(d.items())[:2]]
    try:
        return (int(b[field]) - int(a[field])) / (n2 - n1)
    except (ValueError, KeyError):
        return None


def base_of(config):
    return ("base_mimalloc" if "mimalloc" in config else "base_system", "bare", "-")


out = []
p = out.append
p(f"# heapwise instruction counts (callgrind), {date}, commit {commit}\n")
p(f"- date (UTC): {date}; commit `{commit}` (heapwise sources sha256 `{src_hash}`); {nproc} CPUs, {cpu}; {vg}")
p(f"- command: `{cmd}`")
sizes = ", ".join(f"{w} {'/'.join(str(n) for n in sorted(runs[('base_system', 'bare', '-')].get(w, {})))}" for w in WLS)
p(f"- figure: instructions per unit (pair, key, record, item) = (Ir(N2) - Ir(N1)) / (N2 - N1); sizes N1/N2: {sizes}")
p("- `+d`: extra instructions per unit over the bare inner allocator (base_system, or base_mimalloc for heapwise_mimalloc*); `x`: ratio")
p("- rate: heapwise's heap-profiler rate (`--profile-rate`): off (0), 512 KiB (the default), full (1: every allocation).")
p("  The sampler draws from a per-thread random generator, so at 512 KiB the figures vary by a fraction of an instruction.\n")
p("| config | mode | rate | " + " | ".join(f"{w} Ir/{UNIT[w]}" for w in WLS) + " |")
p("|---|---|---|" + "---|" * len(WLS))
for key in order:
    c, m, r = key
    cells = []
    for w in WLS:
        s = slope(key, w)
        b = slope(base_of(c), w)
        if s is None:
            cells.append("-")
        elif c.startswith("base_") or b is None:
            cells.append(f"{s:.1f}")
        else:
            cells.append(f"{s:.1f} ({s - b:+.1f}, x{s / b:.3f})")
    p(f"| {c} | {m} | {RATE.get(r, r)} | " + " | ".join(cells) + " |")
p("")

p("## Fast path: did it move? (churn, instructions per alloc+free pair)\n")
p("`previous`: `2026-11-22-f6a0cd9-dirty-callgrind.md`, before the profiler (the free path has since gained the")
p("live-block filter check). `+d`: over the bare inner allocator of the same run.\n")
p("| config | mode | churn: previous | rate off | rate 512 KiB | churn (alloc): previous | rate off | rate 512 KiB |")
p("|---|---|---|---|---|---|---|---|")
for key in order:
    c, m, r = key
    if r != "0" and not c.startswith("base"):
        continue
    prev = PREVIOUS.get((c, m))
    cells = []
    for i, w in enumerate(["churn", "churn_alloc"]):
        b = slope(base_of(c), w)
        pb = PREVIOUS.get((base_of(c)[0], "bare"))
        cells.append(f"{prev[i]:.1f}" + (f" (+{prev[i] - pb[i]:.1f})" if prev and not c.startswith("base") else "") if prev else "-")
        for rate in (["-"] if c.startswith("base") else ["0", "524288"]):
            s = slope((c, m, rate), w)
            if s is None:
                cells.append("-")
            elif c.startswith("base"):
                cells.append(f"{s:.1f}")
            else:
                cells.append(f"{s:.1f} ({s - b:+.1f})")
        if c.startswith("base"):
            cells.append("")
    p(f"| {c} | {m} | " + " | ".join(cells) + " |")
p("")

p("## The profiler's cost in instructions (heapwise `outside`)\n")
p("Ratio to the same binary with the profiler off. Per sampled block: extra instructions over rate off divided")
p("by the blocks (full mode: every block heapwise counted, allocations and realloc's new blocks; 512 KiB: the")
p("samples taken), per unit of work, i.e. the cost of one sample including the later free of its block.\n")
p("| config | workload | off Ir/unit | 512 KiB Ir/unit | x off | samples/unit | Ir per sample | full Ir/unit | x off | blocks/unit | Ir per sampled block |")
p("|---|---|---|---|---|---|---|---|---|---|---|")
for c in ["heapwise_system", "heapwise_mimalloc"]:
    for w in WLS:
        off = slope((c, "outside", "0"), w)
        mid = slope((c, "outside", "524288"), w)
        full = slope((c, "outside", "1"), w)
        if off is None:
            continue
        sm = slope((c, "outside", "524288"), w, "samples")
        blocks = slope((c, "outside", "0"), w, "allocs")
        row = [f"{off:.1f}"]
        row += [f"{mid:.1f}", f"x{mid / off:.4f}"] if mid is not None else ["-", "-"]
        row += [f"{sm:.5f}" if sm is not None else "-",
                f"{(mid - off) / sm:.0f}" if mid is not None and sm else "-"]
        row += [f"{full:.1f}", f"x{full / off:.3f}"] if full is not None else ["-", "-"]
        row += [f"{blocks:.2f}" if blocks is not None else "-",
                f"{(full - off) / blocks:.0f}" if full is not None and blocks else "-"]
        p(f"| {c} | {w} | " + " | ".join(row) + " |")
p("")
print("\n".join(out))
