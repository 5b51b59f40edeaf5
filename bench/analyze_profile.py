#!/usr/bin/env python3
"""Turns run_profile.sh's raw lines into the markdown results file (stdout).

Each raw line is one process: `round=R group=G slot=S label=L wl=W RESULT
config=.. ns_per_unit=.. [profiler fields] whole_ms=.. whole_cpu_ms=..
maxrss_kb=.. out_bytes=..`. In each (round, group, workload) the group's base
runs first and last and brackets the members. A member's ratio is the median
over rounds of its per-round ratio to the mean of the two bracketing base runs;
a ratio between two members is the median over rounds of their per-round
ratio (same round, same group, seconds apart).
"""
import argparse
import collections
import statistics

# The previous recorded run (bench/results/2026-11-22-f6a0cd9-dirty.md and
# -callgrind.md), before the profiler existed: bracketed median ratio to the
# bare inner allocator, `outside` mode.
PREVIOUS = {
    ("heapwise_system", "churn"): 1.078,
    ("heapwise_system", "churn_alloc"): 1.119,
    ("heapwise_mimalloc", "churn"): 1.071,
    ("heapwise_mimalloc", "churn_alloc"): 1.091,
}
UNIT = {"churn": "ns/pair", "churn_alloc": "ns/pair", "mixed": "ms/run", "serde": "ms/run", "mixed@small": "ns/item"}
GROUP_TITLE = {
    "sys": "heapwise over System (glibc)",
    "sys_pinned": "heapwise over System, glibc trim/mmap thresholds pinned",
    "mim": "heapwise over mimalloc",
    "jem": "jemalloc (tikv-jemallocator 0.7, jemalloc 5.3)",
    "full": "full mode, mixed at small N",
}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x):
    if x != x:
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def parse(path):
    cells = collections.defaultdict(list)  # (round, group, wl) -> [(slot, label, kv)]
    for line in open(path):
        kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "ns_per_unit" not in kv:
            continue
        for k, v in list(kv.items()):
            try:
                kv[k] = float(v)
            except ValueError:
                pass
        cells[(int(kv["round"]), kv["group"], kv["wl"])].append((int(kv["slot"]), kv["label"], kv))
    return cells


def figure(w, kv, metric):
    """The figure shown: ms per run for mixed/serde, ns/unit otherwise."""
    if metric != "ns_per_unit":
        return kv[metric]
    if w in ("mixed", "serde"):
        return kv["ms_per_run"]
    return kv["ns_per_unit"]


class Data:
    def __init__(self, cells):
        # vals[(group, wl, label)][metric] -> {round: value} (bases: bracket mean)
        self.vals = collections.defaultdict(lambda: collections.defaultdict(dict))
        # brk[(group, wl, label)][metric] -> {round: bracketing base mean}
        self.brk = collections.defaultdict(lambda: collections.defaultdict(dict))
        self.kvs = collections.defaultdict(list)  # (group, wl, label) -> [kv]
        self.base = {}
        for (r, g, w), items in cells.items():
            items.sort(key=lambda t: t[0])
            blabel = items[0][1]
            self.base[g] = blabel
            for metric in ("ns_per_unit", "whole_ms", "whole_cpu_ms", "maxrss_kb"):
                bases = [figure(w, kv, metric) for s, l, kv in items if l == blabel]
                bmean = sum(bases) / len(bases)
                self.vals[(g, w, blabel)][metric][r] = bmean
                for s, l, kv in items:
                    if l != blabel:
                        self.vals[(g, w, l)][metric][r] = figure(w, kv, metric)
                        self.brk[(g, w, l)][metric][r] = bmean
            for s, l, kv in items:
                self.kvs[(g, w, l)].append(kv)

    def labels(self, g, w):
        out = [self.base.get(g)]
        for (gg, ww, l) in self.vals:
            if gg == g and ww == w and l not in out:
                out.append(l)
        return [l for l in out if (g, w, l) in self.vals]

    def value(self, g, w, l, metric="ns_per_unit"):
        v = list(self.vals[(g, w, l)][metric].values())
        return med(v), (min(v) if v else float("nan")), (max(v) if v else float("nan"))

    def ratio(self, g, w, a, b=None, metric="ns_per_unit"):
        """Median [min, max] over rounds of a / b (b None: a's bracketing base)."""
        av = self.vals[(g, w, a)][metric]
        bv = self.brk[(g, w, a)][metric] if b is None else self.vals[(g, w, b)][metric]
        rs = [av[r] / bv[r] for r in av if r in bv and bv[r] > 0]
        return (med(rs), min(rs), max(rs), len(rs)) if rs else (float("nan"),) * 3 + (0,)

    def ratio_of_minima(self, g, w, a, b, metric="ns_per_unit"):
        av = [figure(w, kv, metric) for kv in self.kvs[(g, w, a)]]
        bv = [figure(w, kv, metric) for kv in self.kvs[(g, w, b)]]
        return min(av) / min(bv) if av and bv else float("nan")

    def field(self, g, w, l, key):
        xs = [kv[key] for kv in self.kvs.get((g, w, l), []) if isinstance(kv.get(key), float)]
        return med(xs) if xs else None


def rfmt(t):
    m, lo, hi, n = t
    if m != m:
        return "-"
    if m >= 10:
        return f"x{m:.1f} [{lo:.1f}-{hi:.1f}]"
    return f"x{m:.3f} [{lo:.3f}-{hi:.3f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    for k in ["date", "commit", "cmd", "nproc", "cpu", "rounds", "elapsed", "rustc", "glibc", "src_hash", "heaptrack", "sizes"]:
        ap.add_argument("--" + k.replace("_", "-"), dest=k, default="?")
    a = ap.parse_args()
    d = Data(parse(a.raw))
    out = []
    p = out.append

    p(f"# heapwise heap profiler: overhead side by side, {a.date}, commit {a.commit}\n")
    p(f"- date (UTC): {a.date}")
    p(f"- commit: `{a.commit}` (heapwise sources sha256 `{a.src_hash}`)")
    p(f"- machine: {a.nproc} CPUs, {a.cpu}; {a.glibc}; {a.rustc}; {a.heaptrack}")
    p(f"- command: `{a.cmd}` ({a.rounds} interleaved rounds; wall time {a.elapsed} s)")
    p(f"- sizes: {a.sizes.strip()} (churn: pairs, 3 timed runs per process; mixed, serde: items/records, 1 timed run; each after 1 warm-up run)")
    p("- build: release, fat LTO, `debug = 1`, `-C force-frame-pointers=yes` (the workspace's `.cargo/config.toml`)")
    p("")
    p("Method: each process measures one configuration (1 warm-up run, then the timed runs, median). In every round,")
    p("for every workload, a group runs as `[base, members..., base]`; a member's ratio is the median over rounds of")
    p("its ratio to the mean of the two base runs that bracket it, `[min-max]` over rounds. Ratios between two")
    p("members are medians of per-round ratios. Figures are medians over rounds; mixed and serde in ms per run,")
    p("churn in ns per alloc+free pair, mixed@small in ns per item. heapwise runs `outside` any scope;")
    p("`@off` = `--profile-rate 0`, `@512k` = `--profile-rate 512KiB` (the default), `@full` = `--profile-rate 1`.")
    p("Each profiled run builds its profile once after the timed runs (`profile::heap()`, jemalloc `prof.dump`)")
    p("and asserts it holds samples.\n")

    # 1. Sampling at 512 KiB vs off.
    p("## Sampling at 512 KiB vs profiling off (target: <= 1.02x on mixed and serde)\n")
    p("| group | config | mixed ms/run | serde ms/run | churn ns/pair | churn (alloc) ns/pair |")
    p("|---|---|---|---|---|---|")
    wls = ["mixed", "serde", "churn", "churn_alloc"]
    for g in ["sys", "sys_pinned", "mim", "jem"]:
        labels = []
        for w in wls:
            for l in d.labels(g, w):
                if l not in labels:
                    labels.append(l)
        for l in labels:
            row = []
            for w in wls:
                if (g, w, l) not in d.vals:
                    row.append("-")
                    continue
                v = fmt(d.value(g, w, l)[0])
                if l != d.base[g]:
                    m = d.ratio(g, w, l)[0]
                    v += f" (x{m:.3f})"
                row.append(v)
            p(f"| {g} | {l} | " + " | ".join(row) + " |")
    p("")
    p("`(x..)`: ratio to the group's base (heapwise at rate 0, or jemalloc without prof). Verdicts, on the")
    p("bracketed median ratio (`[min-max]` over rounds; ratio of the minima, i.e. best process of each, in brackets):\n")
    p("| profiler at 512 KiB | vs | mixed | serde | verdict (<= 1.02) |")
    p("|---|---|---|---|---|")
    for g, l in [("sys", "heapwise_system@512k"), ("sys_pinned", "heapwise_system@512k"),
                 ("mim", "heapwise_mimalloc@512k"), ("jem", "jemalloc_prof@512k")]:
        cells, ok = [], []
        for w in ["mixed", "serde"]:
            if (g, w, l) not in d.vals:
                cells.append("-")
                continue
            t = d.ratio(g, w, l)
            rmin = d.ratio_of_minima(g, w, l, d.base[g])
            cells.append(f"{rfmt(t)} ({rmin:.3f})")
            ok.append(t[0] <= 1.02)
        verdict = "met" if ok and all(ok) else ("MISSED" if ok else "-")
        if g == "jem":
            verdict = "(peer: " + ("within" if all(ok) else "over") + " 1.02)"
        p(f"| {l} ({g}) | {d.base[g]} | " + " | ".join(cells) + f" | {verdict} |")
    p("")
    if any((g, "mixed", "heapwise_system@512k") in d.vals for g in ["sys"]) and ("jem", "mixed", "jemalloc_prof@512k") in d.vals:
        p("Overhead of sampling at 512 KiB, heapwise vs jemalloc's profiler (each against itself without profiling):\n")
        p("| workload | heapwise over System | heapwise over System, pinned | heapwise over mimalloc | jemalloc prof |")
        p("|---|---|---|---|---|")
        for w in wls:
            cells = []
            for g, l in [("sys", "heapwise_system@512k"), ("sys_pinned", "heapwise_system@512k"),
                         ("mim", "heapwise_mimalloc@512k"), ("jem", "jemalloc_prof@512k")]:
                cells.append(f"x{d.ratio(g, w, l)[0]:.3f}" if (g, w, l) in d.vals else "-")
            p(f"| {w} | " + " | ".join(cells) + " |")
        p("")

    # 2. Fast path with profiling off vs the previous run.
    p("## Fast path: heapwise vs its bare inner allocator, profiler at rate 0 and at 512 KiB\n")
    p("Per-round ratio heapwise / bare inner allocator (same round and group), median [min-max]; `previous`: the")
    p("bracketed median ratio (`outside`) in `2026-11-22-f6a0cd9-dirty.md`, before the profiler. Instruction counts:")
    p("see the `-callgrind` file of the same run.\n")
    p("| config | bare | workload | rate 0 | rate 512 KiB | previous (no profiler) |")
    p("|---|---|---|---|---|---|")
    for g, hw, bare in [("sys", "heapwise_system", "base_system"), ("mim", "heapwise_mimalloc", "base_mimalloc"),
                        ("sys_pinned", "heapwise_system", "base_system")]:
        for w in wls:
            if (g, w, bare) not in d.vals:
                continue
            off = d.ratio(g, w, f"{hw}@off", bare)
            on = d.ratio(g, w, f"{hw}@512k", bare)
            prev = PREVIOUS.get((hw, w)) if g != "sys_pinned" else None
            p(f"| {hw} ({g}) | {bare} | {w} | {rfmt(off)} | {rfmt(on)} | {('x%.3f' % prev) if prev else '-'} |")
    p("")

    # 3. Full mode.
    g, w = "full", "mixed@small"
    if (g, w, "heapwise_system@full") in d.vals:
        hwl = "heapwise_system@full"
        p("## Full mode (every allocation recorded) vs heaptrack, dhat and jemalloc lg_prof_sample:0, mixed\n")
        n = d.field(g, w, hwl, "n")
        p(f"Mixed workload at n = {n:.0f} items (~{12.2 * n / 1e3:.0f}k blocks per run), same binary input for all;")
        p("heaptrack runs `base_system` (glibc) under `heaptrack -o FILE`. In-process: the timed workload run inside")
        p("the process (ns per item), as for every other binary. Whole process: the whole command, start-up, warm-up")
        p("run, timed run and writing the profile (heapwise `--write-profile`, heaptrack's `.zst` after")
        p("`heaptrack_interpret`, dhat's JSON, jemalloc `prof.dump`), wall time from `date` and user+sys CPU time")
        p("of the process tree from `/usr/bin/time` (heaptrack's interpreter runs on the second core).\n")
        p("| config | in-process ns/item [min-max] | x bare | whole wall ms | whole CPU ms | max RSS MiB | profile bytes |")
        p("|---|---|---|---|---|---|---|")
        for l in d.labels(g, w):
            v, lo, hi = d.value(g, w, l)
            xb = "-" if l == d.base[g] else f"x{d.ratio(g, w, l)[0]:.2f}"
            wall = d.value(g, w, l, "whole_ms")[0]
            cpu = d.value(g, w, l, "whole_cpu_ms")[0]
            rss = d.value(g, w, l, "maxrss_kb")[0] / 1024
            ob = d.field(g, w, l, "out_bytes")
            p(f"| {l} | {fmt(v)} [{fmt(lo)}-{fmt(hi)}] | {xb} | {fmt(wall)} | {fmt(cpu)} | {rss:.1f} | {('%.0f' % ob) if ob else '-'} |")
        p("")
        p("How many times faster heapwise full mode is (per-round ratio tool / heapwise, median [min-max]):\n")
        p("| vs | target | in-process | whole wall | whole CPU | verdict (in-process; whole wall) |")
        p("|---|---|---|---|---|---|")
        for l, target in [("heaptrack", 5.0), ("dhat", 20.0), ("jemalloc_prof@full", None)]:
            if (g, w, l) not in d.vals:
                continue
            ti = d.ratio(g, w, l, hwl)
            tw = d.ratio(g, w, l, hwl, "whole_ms")
            tc = d.ratio(g, w, l, hwl, "whole_cpu_ms")
            if target:
                verdict = "; ".join(("met" if t[0] >= target else f"MISSED ({t[0]:.2f}x < {target:.0f}x)") for t in (ti, tw))
            else:
                verdict = "(no target)"
            p(f"| {l} | {('>= %.0fx' % target) if target else '-'} | {rfmt(ti)} | {rfmt(tw)} | {rfmt(tc)} | {verdict} |")
        p("")

    # 4. Profiler memory.
    p("## Profiler memory (`heapwise::profile::memory()`)\n")
    p("`peak`: in the first (untimed) warm-up run of mixed, with the map and the last strings alive; `end`: after")
    p("the timed runs, before the profile is built. Medians over")
    p("the processes. Per sampled block: live-table bytes / live sampled blocks at the peak; per sample:")
    p("total profiler bytes / samples taken since start; per stack: stack-depot bytes / distinct stacks; per")
    p("bucket: bucket bytes / (stack, size, scope, rate) buckets.\n")
    p("| run | samples | live samples (peak) | stacks | buckets | live-table bytes (peak) | total bytes (end) | B / live sampled block | total B / sample | B / stack | B / bucket |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    mem_rows = [("sys", "mixed", "heapwise_system@512k"), ("mim", "mixed", "heapwise_mimalloc@512k"),
                ("sys", "serde", "heapwise_system@512k"), ("full", "mixed@small", "heapwise_system@full"),
                ("mem", "mixed", "heapwise_system@full"), ("mem", "serde", "heapwise_system@full")]
    for g, w, l in mem_rows:
        if (g, w, l) not in d.kvs:
            continue
        f = lambda k: d.field(g, w, l, k)
        n = f("n")
        samples = f("end_samples")
        pls, plb = f("peak_live_samples"), f("peak_live_bytes")
        stacks, sb = f("end_stacks"), f("end_stack_bytes")
        buckets, bb = f("end_buckets"), f("end_bucket_bytes")
        tot = f("end_total_bytes")

        def div(a_, b_):
            return f"{a_ / b_:.1f}" if a_ is not None and b_ else "-"

        peak_cells = (f"{pls:.0f}", f"{plb:.0f}") if pls is not None and w != "serde" else ("-", "-")
        p(f"| {l}, {w} n={n:.0f} | {samples:.0f} | {peak_cells[0]} | {stacks:.0f} | {buckets:.0f} | {peak_cells[1]} | {tot:.0f} | "
          f"{div(plb, pls) if w != 'serde' else '-'} | {div(tot, samples)} | {div(sb, stacks)} | {div(bb, buckets)} |")
    p("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
