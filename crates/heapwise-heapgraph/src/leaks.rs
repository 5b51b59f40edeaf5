//! Leaks with LeakSanitizer's meaning.
//!
//! A block is *reachable* if a chain of pointers leads to it from a root.
//! An unreachable block is leaked: *indirectly* if another leaked block
//! points to it, else *directly*. In a leaked cycle (or any set of leaked
//! blocks that reach each other) no block is reached from outside it, so
//! one of them must be called direct: the earliest allocated (lowest
//! sequence number) of each such set with no leaked pointer from outside.
//! Every leaked block is then reachable from a direct one.
//!
//! Computed iteratively: a LIFO flood fill from the roots, then Tarjan's
//! strongly connected components over the unreachable blocks only.

use crate::model::{BlockId, HeapGraph};

/// A block's leak class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeakClass {
    /// Reachable from a root: not leaked.
    Reachable,
    /// Leaked, and no other leaked block points to it (or it is the
    /// earliest allocated of a leaked cycle no other leaked block points
    /// into).
    Direct,
    /// Leaked, and reachable from a direct leak.
    Indirect,
}

const NONE: u32 = u32::MAX;

/// Classifies every block of `graph`: per block, its class.
pub(crate) fn classify(graph: &HeapGraph) -> Vec<LeakClass> {
    let n = graph.blocks.len();
    let mut class = vec![LeakClass::Direct; n];
    // Flood fill from the roots.
    let mut stack: Vec<u32> = Vec::new();
    for r in 0..graph.roots.len() {
        for &t in graph.holder_targets(r) {
            if class[t as usize] != LeakClass::Reachable {
                class[t as usize] = LeakClass::Reachable;
                stack.push(t);
            }
        }
        while let Some(b) = stack.pop() {
            for &t in graph.block_targets(b) {
                if class[t as usize] != LeakClass::Reachable {
                    class[t as usize] = LeakClass::Reachable;
                    stack.push(t);
                }
            }
        }
    }
    let unreachable: Vec<u32> = (0..n as u32)
        .filter(|&b| class[b as usize] != LeakClass::Reachable)
        .collect();
    if unreachable.is_empty() {
        return class;
    }
    let local = |b: u32| unreachable.binary_search(&b).ok();
    let m = unreachable.len();
    // Tarjan's SCCs, iteratively: `index`, `low`, and `scc` (NONE while
    // the block is on the SCC stack).
    let mut index = vec![NONE; m];
    let mut low = vec![0u32; m];
    let mut scc = vec![NONE; m];
    let mut scc_stack: Vec<u32> = Vec::new();
    let mut call: Vec<(u32, u32)> = Vec::new();
    let mut next_index = 0u32;
    let mut sccs = 0u32;
    for s in 0..m as u32 {
        if index[s as usize] != NONE {
            continue;
        }
        index[s as usize] = next_index;
        low[s as usize] = next_index;
        next_index += 1;
        scc_stack.push(s);
        call.push((s, 0));
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            let targets = graph.block_targets(unreachable[v as usize]);
            if let Some(&t) = targets.get(*pos as usize) {
                *pos += 1;
                let Some(t) = local(t) else { continue };
                if index[t] == NONE {
                    index[t] = next_index;
                    low[t] = next_index;
                    next_index += 1;
                    scc_stack.push(t as u32);
                    call.push((t as u32, 0));
                } else if scc[t] == NONE {
                    low[v as usize] = low[v as usize].min(index[t]);
                }
                continue;
            }
            call.pop();
            if low[v as usize] == index[v as usize] {
                while let Some(w) = scc_stack.pop() {
                    scc[w as usize] = sccs;
                    if w == v {
                        break;
                    }
                }
                sccs += 1;
            }
            if let Some(&(u, _)) = call.last() {
                low[u as usize] = low[u as usize].min(low[v as usize]);
            }
        }
    }
    drop(index);
    drop(low);
    // An SCC is a source if no pointer comes into it from another leaked
    // SCC; its earliest allocated block is the direct leak.
    let mut has_in = vec![false; sccs as usize];
    for v in 0..m {
        for &t in graph.block_targets(unreachable[v]) {
            if let Some(t) = local(t) {
                if scc[t] != scc[v] {
                    has_in[scc[t] as usize] = true;
                }
            }
        }
    }
    let mut leader = vec![NONE; sccs as usize];
    let seq = |l: u32| graph.blocks.seq(unreachable[l as usize] as usize);
    for (v, &c) in scc.iter().enumerate() {
        let c = c as usize;
        if !has_in[c] && (leader[c] == NONE || seq(v as u32) < seq(leader[c])) {
            leader[c] = v as u32;
        }
    }
    for &b in &unreachable {
        class[b as usize] = LeakClass::Indirect;
    }
    for l in leader.into_iter().filter(|&l| l != NONE) {
        class[unreachable[l as usize] as usize] = LeakClass::Direct;
    }
    class
}

/// The leaked bytes and blocks of one allocation site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteLeaks {
    /// The site's name.
    pub site: String,
    /// Directly leaked blocks.
    pub direct_blocks: u64,
    /// Their bytes.
    pub direct_bytes: u64,
    /// Indirectly leaked blocks.
    pub indirect_blocks: u64,
    /// Their bytes.
    pub indirect_bytes: u64,
}

/// Leaks by site, most leaked bytes (direct and indirect) first, then by
/// name.
pub(crate) fn by_site(graph: &HeapGraph, class: &[LeakClass]) -> Vec<SiteLeaks> {
    let mut sites: Vec<SiteLeaks> = graph
        .sites
        .iter()
        .map(|s| SiteLeaks {
            site: s.clone(),
            direct_blocks: 0,
            direct_bytes: 0,
            indirect_blocks: 0,
            indirect_bytes: 0,
        })
        .collect();
    for (i, c) in class.iter().enumerate() {
        let size = graph.blocks.size(i);
        let s = &mut sites[graph.block_site(BlockId(i as u32)).0 as usize];
        match c {
            LeakClass::Direct => {
                s.direct_blocks += 1;
                s.direct_bytes += size;
            }
            LeakClass::Indirect => {
                s.indirect_blocks += 1;
                s.indirect_bytes += size;
            }
            LeakClass::Reachable => {}
        }
    }
    sites.retain(|s| s.direct_blocks + s.indirect_blocks > 0);
    sites.sort_by(|a, b| {
        (b.direct_bytes + b.indirect_bytes)
            .cmp(&(a.direct_bytes + a.indirect_bytes))
            .then_with(|| a.site.cmp(&b.site))
    });
    sites
}
