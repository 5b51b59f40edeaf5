//! The heap graph analysis on a synthetic heap: time per phase and memory
//! per block. Usage: `heapwise-bench-heapgraph [BLOCKS] [--chk SECONDS]`.
//!
//! The heap (never materialised: a word's value is a function of its
//! address): block i at `BASE + 256 i`, 16 to 208 bytes (112 on average,
//! 1.04 GiB for 10 M blocks). Words 0 and 1 point to blocks 2i+1 and 2i+2
//! (a binary tree from block 0), except into every 1000th block (its
//! subtree leaks unless a cross pointer reaches it); word 2 of every
//! fourth block is a cross pointer (interior, +8) to a pseudo-random
//! block; the leaves (the upper half) form one long list through word 3;
//! other words are pseudo-random integers, mostly below the heap. Roots: a
//! global pointing to block 0, and a thread stack and registers pointing
//! into 64 blocks.
//!
//! `--chk SECONDS` also runs Cooper–Harvey–Kennedy's iterative dominators
//! on the same graph, giving up after SECONDS.

use std::time::{Duration, Instant};

use heapwise_heapgraph::{BlockId, Frame, GraphBuilder, HeapGraph, Holder, Root, RootId, RootKind};

const BASE: u64 = 0x10_0000_0000;
const STRIDE: u64 = 256;

fn hash(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn size_of(i: u64) -> u64 {
    16 + (hash(i) % 13) * 16
}

fn addr_of(i: u64) -> u64 {
    BASE + i * STRIDE
}

fn word(n: u64, addr: u64) -> u64 {
    if addr < BASE {
        // Roots: the global at 0x1000 -> block 0; stack and registers.
        return match addr {
            0x1000 => addr_of(0),
            a if (0x2000..0x2200).contains(&a) => addr_of(hash(a) % n) + 8,
            _ => 0,
        };
    }
    let i = (addr - BASE) / STRIDE;
    let k = (addr - BASE) % STRIDE / 8;
    let child = |c: u64| (c < n && c % 1000 != 999).then(|| addr_of(c));
    let v = match k {
        0 => child(2 * i + 1),
        1 => child(2 * i + 2),
        2 if i % 4 == 0 => Some(addr_of(hash(i) % n) + 8),
        3 if i >= n / 2 && i + 1 < n => Some(addr_of(i + 1)),
        _ => None,
    };
    v.unwrap_or_else(|| hash(addr) % (BASE / 2))
}

fn rss(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn reset_peak() {
    // Linux: writing 5 to clear_refs resets the peak RSS (VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut n: u64 = 10_000_000;
    let mut chk: Option<u64> = None;
    while let Some(a) = args.next() {
        if a == "--chk" {
            chk = Some(args.next().expect("--chk SECONDS").parse().unwrap());
        } else {
            n = a.parse().expect("BLOCKS");
        }
    }
    let mut b = GraphBuilder::new();
    let stacks: Vec<_> = (0..64)
        .map(|s| {
            b.stack(&[
                Frame::new("alloc::alloc::alloc", "alloc.rs", 1),
                Frame::new(format!("app::site{s}"), "src/app.rs", s),
                Frame::new("app::main", "src/main.rs", 1),
            ])
        })
        .collect();
    b.reserve_blocks(n as usize);
    // Sequence numbers in a shuffled order, so "earliest" is not address
    // order.
    for i in 0..n {
        b.block(addr_of(i), size_of(i), hash(i) ^ i << 32, stacks[(i % 64) as usize]);
    }
    b.root(Root::new(RootKind::Global, "app::ROOT", 0x1000, 8));
    b.root(Root::new(RootKind::ThreadStack, "thread main", 0x2000, 0x100));
    b.root(Root::new(RootKind::Registers, "thread main", 0x2100, 0x100));
    let heap: u64 = (0..n).map(size_of).sum();
    let before = rss("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let graph = b.build(|a| Some(word(n, a))).expect("a valid graph");
    let t_edges = t.elapsed();
    let after_edges = rss("VmRSS:");
    let t = Instant::now();
    let analysis = graph.analyze();
    let t_analysis = t.elapsed();
    let peak = rss("VmHWM:");
    let after = rss("VmRSS:");
    let leaked_direct = analysis.direct_leaks().count();
    let leaked_indirect = analysis.indirect_leaks().count();
    let top = analysis.top_dominators(1)[0];
    let t = Instant::now();
    let by_site = analysis.retained_by_site();
    let t_sites = t.elapsed();
    println!(
        "RESULT blocks={n} heap_bytes={heap} edges={} direct={leaked_direct} indirect={leaked_indirect} \
         top_retained={} sites={} \
         edges_s={:.3} analyze_s={:.3} total_s={:.3} by_site_s={:.3} \
         rss_before={before} rss_after_edges={after_edges} rss_after={after} peak={peak} \
         graph_bytes_per_block={:.1} peak_bytes_per_block={:.1}",
        graph.edge_count(),
        analysis.retained_bytes(top),
        by_site.len(),
        t_edges.as_secs_f64(),
        t_analysis.as_secs_f64(),
        (t_edges + t_analysis).as_secs_f64(),
        t_sites.as_secs_f64(),
        after_edges.saturating_sub(before) as f64 / n as f64,
        peak.saturating_sub(before) as f64 / n as f64,
    );
    if let Some(limit) = chk {
        let t = Instant::now();
        match chk_dominators(&graph, Duration::from_secs(limit)) {
            Some(rounds) => println!(
                "RESULT chk_s={:.3} chk_rounds={rounds}",
                t.elapsed().as_secs_f64()
            ),
            None => println!("RESULT chk_gave_up_after_s={limit}"),
        }
    }
}

/// Cooper, Harvey and Kennedy, "A Simple, Fast Dominance Algorithm"
/// (iterative, over reverse postorder), on the reachable part from the
/// roots plus the direct leaks, as the crate's graph. Returns the number
/// of rounds, or `None` past `limit`.
fn chk_dominators(g: &HeapGraph, limit: Duration) -> Option<u32> {
    let start = Instant::now();
    let roots = g.roots().len() as u32;
    let n = g.blocks().len() as u32;
    let total = (roots + 1 + n) as usize;
    let succ = |v: u32| -> Vec<u32> {
        if v == 0 {
            (1..=roots).collect()
        } else if v <= roots {
            g.edges_from(Holder::Root(RootId(v - 1)))
                .map(|(_, b)| b.0 + roots + 1)
                .collect()
        } else {
            g.edges_from(Holder::Block(BlockId(v - roots - 1)))
                .map(|(_, b)| b.0 + roots + 1)
                .collect()
        }
    };
    // Postorder, iteratively.
    const NONE: u32 = u32::MAX;
    let mut post = vec![NONE; total];
    let mut order = Vec::new();
    let mut seen = vec![false; total];
    let mut stack = vec![(0u32, succ(0), 0usize)];
    seen[0] = true;
    while let Some((v, s, i)) = stack.last_mut() {
        if *i < s.len() {
            let w = s[*i];
            *i += 1;
            if !seen[w as usize] {
                seen[w as usize] = true;
                let sw = succ(w);
                stack.push((w, sw, 0));
            }
        } else {
            post[*v as usize] = order.len() as u32;
            order.push(*v);
            stack.pop();
        }
    }
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); total];
    for &v in &order {
        for w in succ(v) {
            preds[w as usize].push(v);
        }
    }
    let mut idom = vec![NONE; total];
    idom[0] = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut changed = false;
        for &b in order.iter().rev().skip(1) {
            let mut new = NONE;
            for &p in &preds[b as usize] {
                if idom[p as usize] == NONE {
                    continue;
                }
                new = if new == NONE {
                    p
                } else {
                    let (mut x, mut y) = (p, new);
                    while x != y {
                        while post[x as usize] < post[y as usize] {
                            x = idom[x as usize];
                        }
                        while post[y as usize] < post[x as usize] {
                            y = idom[y as usize];
                        }
                    }
                    x
                };
            }
            if idom[b as usize] != new {
                idom[b as usize] = new;
                changed = true;
            }
            if start.elapsed() > limit {
                return None;
            }
        }
        if !changed {
            return Some(rounds);
        }
    }
}
