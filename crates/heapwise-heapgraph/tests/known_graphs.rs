//! Leaks, dominators, retained sizes and retainer paths on graphs built by
//! scanning a small fake memory, where the answer is known.

use std::collections::HashMap;

use heapwise_heapgraph::{
    Dominator, ErrorKind, Frame, GraphBuilder, HeapGraph, Holder, LeakClass, Root, RootKind, Target,
};

/// A fake address space: 8-byte words, zero unless written.
#[derive(Default)]
struct Memory {
    words: HashMap<u64, u64>,
    builder: GraphBuilder,
}

impl Memory {
    fn write(&mut self, addr: u64, value: u64) {
        self.words.insert(addr, value);
    }
    /// A block at `addr` allocated by `site` (a stack: `site` under an
    /// allocator frame and `main`).
    fn block(&mut self, addr: u64, size: u64, seq: u64, site: &str) {
        let stack = self.builder.stack(&[
            Frame::new("alloc::alloc::alloc", "alloc.rs", 1),
            Frame::new(site, "src/app.rs", 10),
            Frame::new("main", "src/main.rs", 1),
        ]);
        self.builder.block(addr, size, seq, stack);
    }
    fn root(&mut self, kind: RootKind, name: &str, addr: u64, len: u64) {
        self.builder.root(Root::new(kind, name, addr, len));
    }
    fn build(self) -> HeapGraph {
        let words = self.words;
        self.builder
            .build(|a| Some(words.get(&a).copied().unwrap_or(0)))
            .expect("a valid graph")
    }
}

fn id(graph: &HeapGraph, seq: u64) -> heapwise_heapgraph::BlockId {
    graph.block_by_seq(seq).expect("a block with this seq")
}

#[test]
fn a_leaked_chain_has_a_direct_head_and_an_indirect_tail() {
    let mut m = Memory::default();
    // A thread's stack (the thread has exited: no root) held head -> b -> c.
    m.block(0x10000, 32, 1, "app::head");
    m.block(0x20000, 32, 2, "app::node");
    m.block(0x30000, 32, 3, "app::node");
    m.write(0x10000 + 8, 0x20000);
    m.write(0x20000 + 8, 0x30000);
    // And a reachable block, held by a global.
    m.block(0x40000, 16, 4, "app::kept");
    m.write(0x1000, 0x40000);
    m.root(RootKind::Global, "app::KEPT", 0x1000, 8);
    let g = m.build();
    let a = g.analyze();
    assert_eq!(a.leak_class(id(&g, 1)), LeakClass::Direct);
    assert_eq!(a.leak_class(id(&g, 2)), LeakClass::Indirect);
    assert_eq!(a.leak_class(id(&g, 3)), LeakClass::Indirect);
    assert_eq!(a.leak_class(id(&g, 4)), LeakClass::Reachable);
    let sites = a.leaks_by_site();
    assert_eq!(sites.len(), 2);
    assert_eq!(
        (
            sites[0].site.as_str(),
            sites[0].indirect_blocks,
            sites[0].indirect_bytes
        ),
        ("app::node", 2, 64)
    );
    assert_eq!(
        (
            sites[1].site.as_str(),
            sites[1].direct_blocks,
            sites[1].direct_bytes
        ),
        ("app::head", 1, 32)
    );
    // The head retains the chain.
    assert_eq!(a.retained_bytes(id(&g, 1)), 96);
    assert_eq!(a.dominator(id(&g, 1)), Dominator::Leaked);
    assert!(g.why_alive(Target::Block(id(&g, 2))).is_none());
}

#[test]
fn in_a_leaked_cycle_the_earliest_allocated_block_is_direct() {
    let mut m = Memory::default();
    // A cycle 5 <-> 3, pointing to 1 (allocated earlier than either, but
    // indirect: the cycle reaches it).
    m.block(0x10000, 24, 5, "app::Rc::new");
    m.block(0x20000, 24, 3, "app::Rc::new");
    m.block(0x30000, 8, 1, "app::payload");
    m.write(0x10000, 0x20000);
    m.write(0x20000, 0x10000);
    m.write(0x20008, 0x30000);
    // A self-loop alone is direct too.
    m.block(0x40000, 8, 7, "app::selfish");
    m.write(0x40000, 0x40000);
    let g = m.build();
    let a = g.analyze();
    assert_eq!(a.leak_class(id(&g, 3)), LeakClass::Direct);
    assert_eq!(a.leak_class(id(&g, 5)), LeakClass::Indirect);
    assert_eq!(a.leak_class(id(&g, 1)), LeakClass::Indirect);
    assert_eq!(a.leak_class(id(&g, 7)), LeakClass::Direct);
    assert_eq!(a.direct_leaks().count(), 2);
    assert_eq!(a.retained_bytes(id(&g, 3)), 56);
}

#[test]
fn a_vec_buffer_held_by_a_global_dominates_its_boxes() {
    let mut m = Memory::default();
    // static V: Vec<Box<[u8; 40]>> = {ptr, cap, len} at 0x1000.
    m.root(RootKind::Global, "app::V", 0x1000, 24);
    m.write(0x1000, 0x50000);
    m.write(0x1008, 4);
    m.write(0x1010, 4);
    m.block(0x50000, 32, 10, "app::fill");
    for i in 0..4u64 {
        let b = 0x60000 + i * 0x100;
        m.block(b, 40, 11 + i, "app::make_box");
        m.write(0x50000 + 8 * i, b);
    }
    let g = m.build();
    let a = g.analyze();
    let buf = id(&g, 10);
    let global = heapwise_heapgraph::RootId(0);
    assert_eq!(a.dominator(buf), Dominator::Root(global));
    for i in 0..4 {
        assert_eq!(a.dominator(id(&g, 11 + i)), Dominator::Block(buf));
        assert_eq!(a.retained_bytes(id(&g, 11 + i)), 40);
    }
    assert_eq!(a.retained_bytes(buf), 32 + 4 * 40);
    assert_eq!(a.retained_blocks(buf), 5);
    assert_eq!(a.root_retained_bytes(global), 192);
    assert_eq!(a.top_dominators(1), vec![buf]);
    let suspects = a.suspects();
    assert_eq!(suspects[0].block, buf);
    assert_eq!(suspects[0].retained_bytes, 192);
    // Every box retains 40 of 192 bytes: 20.8%, a suspect too.
    assert_eq!(suspects.len(), 5);
    let by_site = a.retained_by_site();
    assert_eq!(g.site_name(by_site[0].site), "app::fill");
    assert_eq!(by_site[0].retained_bytes, 192);
    assert_eq!(g.site_name(by_site[1].site), "app::make_box");
    assert_eq!(
        (
            by_site[1].blocks,
            by_site[1].bytes,
            by_site[1].retained_bytes
        ),
        (4, 160, 160)
    );
}

#[test]
fn retained_by_site_counts_a_block_dominated_by_its_own_site_once() {
    let mut m = Memory::default();
    // A tree of one site: a -> b -> c, all app::Node::new.
    m.root(RootKind::Global, "app::TREE", 0x1000, 8);
    m.write(0x1000, 0x10000);
    m.block(0x10000, 16, 1, "app::Node::new");
    m.block(0x20000, 16, 2, "app::Node::new");
    m.block(0x30000, 16, 3, "app::Node::new");
    m.write(0x10000, 0x20000);
    m.write(0x20000, 0x30000);
    let g = m.build();
    let a = g.analyze();
    let s = &a.retained_by_site()[0];
    assert_eq!(
        (s.blocks, s.bytes, s.retained_bytes, s.retained_blocks),
        (3, 48, 48, 3)
    );
}

#[test]
fn interior_pointers_are_edges_and_one_past_the_end_is_not() {
    let mut m = Memory::default();
    m.root(RootKind::ThreadStack, "thread main", 0x1000, 16);
    m.block(0x10000, 64, 1, "app::slice");
    m.block(0x10040, 64, 2, "app::after");
    m.block(0x20000, 64, 3, "app::end");
    m.write(0x1000, 0x10000 + 24);
    // One past the end of block 3: not a pointer into it (and nothing is
    // at 0x20040).
    m.write(0x1008, 0x20000 + 64);
    let g = m.build();
    let a = g.analyze();
    assert_eq!(a.leak_class(id(&g, 1)), LeakClass::Reachable);
    assert_eq!(a.leak_class(id(&g, 2)), LeakClass::Direct);
    assert_eq!(a.leak_class(id(&g, 3)), LeakClass::Direct);
    assert_eq!(g.block_at(0x10000 + 63), Some(id(&g, 1)));
    assert_eq!(g.block_at(0x10040), Some(id(&g, 2)));
    assert_eq!(g.block_at(0x20040), None);
}

#[test]
fn a_pointer_only_in_a_register_or_another_threads_stack_keeps_a_block() {
    let mut m = Memory::default();
    m.root(RootKind::ThreadStack, "thread main", 0x1000, 64);
    m.root(RootKind::Registers, "thread worker-1", 0x2000, 16 * 8);
    m.root(
        RootKind::ThreadStack,
        "thread worker-2, frame app::work",
        0x3000,
        64,
    );
    m.block(0x10000, 48, 1, "app::in_register");
    m.block(0x20000, 48, 2, "app::on_other_stack");
    m.block(0x30000, 48, 3, "app::child");
    m.write(0x2000 + 5 * 8, 0x10000 + 8);
    m.write(0x3000 + 16, 0x20000);
    m.write(0x20000 + 40, 0x30000);
    let g = m.build();
    let a = g.analyze();
    assert_eq!(a.direct_leaks().count(), 0);
    let path = g.why_alive(Target::Block(id(&g, 1))).expect("reachable");
    assert_eq!(path.steps.len(), 1);
    assert_eq!(path.steps[0].offset, 40);
    assert_eq!(
        path.steps[0].holder,
        Holder::Root(heapwise_heapgraph::RootId(1))
    );
    let site = g.site_by_name("app::child").unwrap();
    let path = g.why_alive(Target::Site(site)).expect("reachable");
    assert_eq!(
        path.display(&g).to_string(),
        "thread stacks: thread worker-2, frame app::work +0x10\n\
         -> #2 app::on_other_stack (48 bytes) +0x28\n\
         -> #3 app::child (48 bytes)\n"
    );
}

#[test]
fn overlapping_blocks_and_repeated_sequence_numbers_are_errors() {
    let mut m = Memory::default();
    m.block(0x10000, 64, 1, "a");
    m.block(0x10020, 64, 2, "b");
    let err = m.builder.build(|_| Some(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(err.to_string(), "blocks #1 and #2 overlap at 0x10020");
    let mut m = Memory::default();
    m.block(0x10000, 64, 7, "a");
    m.block(0x20000, 64, 7, "b");
    let err = m.builder.build(|_| Some(0)).unwrap_err();
    assert_eq!(err.to_string(), "two blocks have sequence number 7");
}

#[test]
fn a_ten_thousand_block_list_needs_no_recursion() {
    // Deep enough that recursion per element in a debug build would be
    // slow or overflow a small test thread's stack.
    let n = 10_000u64;
    let mut m = Memory::default();
    m.root(RootKind::Global, "app::HEAD", 0x1000, 8);
    m.write(0x1000, 0x100000);
    for i in 0..n {
        let addr = 0x100000 + i * 32;
        m.block(addr, 32, i, "app::push");
        if i + 1 < n {
            m.write(addr, addr + 32);
        }
    }
    let g = m.build();
    let run = move || {
        let a = g.analyze();
        assert_eq!(a.retained_bytes(heapwise_heapgraph::BlockId(0)), 32 * n);
        assert_eq!(
            a.dominator(heapwise_heapgraph::BlockId(n as u32 - 1)),
            Dominator::Block(heapwise_heapgraph::BlockId(n as u32 - 2))
        );
        let path = g.why_alive(Target::Block(heapwise_heapgraph::BlockId(n as u32 - 1)));
        assert_eq!(path.unwrap().steps.len(), n as usize);
    };
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn an_unaligned_root_is_scanned_from_its_first_aligned_word() {
    let mut m = Memory::default();
    // A root at 0x1004: its words are at 0x1008 and 0x1010 (offsets 4 and
    // 12); the half word at 0x1004 is not read.
    m.root(RootKind::UnknownMemory, "mmap region", 0x1004, 20);
    m.write(0x1000, 0x10000);
    m.write(0x1010, 0x20000);
    m.block(0x10000, 8, 1, "app::missed");
    m.block(0x20000, 8, 2, "app::found");
    let g = m.build();
    let edges: Vec<(u64, u64)> = g
        .edges_from(Holder::Root(heapwise_heapgraph::RootId(0)))
        .map(|(off, b)| (off, g.block(b).seq))
        .collect();
    assert_eq!(edges, [(12, 2)]);
    let a = g.analyze();
    assert_eq!(a.leak_class(id(&g, 1)), LeakClass::Direct);
    assert_eq!(a.leak_class(id(&g, 2)), LeakClass::Reachable);
}
