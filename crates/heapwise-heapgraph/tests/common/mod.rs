//! A known graph for the output tests: a global Vec of boxes, a thread's
//! stack holding a tree, and a leaked chain and cycle.

#![allow(dead_code)]

use std::collections::HashMap;

use heapwise_heapgraph::{Frame, GraphBuilder, HeapGraph, Root, RootKind};

pub(crate) fn sample_graph() -> HeapGraph {
    let mut words: HashMap<u64, u64> = HashMap::new();
    let mut b = GraphBuilder::new();
    let stack = |b: &mut GraphBuilder, site: &str, line: u32| {
        b.stack(&[
            Frame::new("alloc::alloc::alloc", "alloc.rs", 1),
            Frame::new(site, "src/app.rs", line),
            Frame::new("app::main", "src/main.rs", 3),
        ])
    };
    // static V: Vec<Box<[u8; 100]>>, 4 boxes.
    b.root(Root::new(RootKind::Global, "app::V", 0x1000, 24));
    words.insert(0x1000, 0x50000);
    let s = stack(&mut b, "app::fill", 10);
    b.block(0x50000, 32, 10, s);
    let s = stack(&mut b, "app::make_box", 20);
    for i in 0..4u64 {
        let addr = 0x60000 + i * 0x100;
        b.block(addr, 100, 11 + i, s);
        words.insert(0x50000 + 8 * i, addr + 16);
    }
    // The main thread's stack holds a two-level tree.
    b.root(Root::new(RootKind::ThreadStack, "thread main", 0x2000, 32));
    b.root(Root::new(RootKind::Registers, "thread main", 0x3000, 16));
    words.insert(0x2008, 0x70000);
    let s = stack(&mut b, "app::Tree::new", 30);
    b.block(0x70000, 48, 20, s);
    b.block(0x70100, 48, 21, s);
    b.block(0x70200, 48, 22, s);
    words.insert(0x70000, 0x70100);
    words.insert(0x70008, 0x70200);
    // Leaked: a chain head -> node -> node, and a cycle 31 <-> 30.
    let s = stack(&mut b, "app::leak_chain", 40);
    b.block(0x80000, 24, 5, s);
    b.block(0x80100, 24, 6, s);
    b.block(0x80200, 24, 7, s);
    words.insert(0x80000, 0x80100);
    words.insert(0x80100, 0x80200);
    let s = stack(&mut b, "app::leak_cycle", 50);
    b.block(0x90000, 40, 31, s);
    b.block(0x90100, 40, 30, s);
    words.insert(0x90000, 0x90100);
    words.insert(0x90100 + 8, 0x90000);
    // An empty stack.
    let s = b.stack(&[]);
    b.block(0xa0000, 8, 40, s);
    words.insert(0x3008, 0xa0000);
    b.build(|a| Some(words.get(&a).copied().unwrap_or(0)))
        .expect("a valid graph")
}
