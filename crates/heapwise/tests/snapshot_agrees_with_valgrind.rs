//! Leaks at exit: `HEAPWISE_LEAK_CHECK=1` against valgrind memcheck's
//! "definitely lost" and "indirectly lost" on the same program (this test
//! binary, re-run as a child that leaks known graphs and exits): the same
//! blocks and bytes in each class. Needs valgrind (an ignored test).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use common::child;
use heapwise_test_support::{lsan_lost, valgrind_lost};
use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::sync::Mutex;

const TEST: &str = "leaks_at_exit_agree_with_valgrind_memcheck";

#[allow(dead_code)] // the fields are the graph
struct Node {
    payload: [u64; 5],
    next: Option<Box<Node>>,
}

#[allow(dead_code)] // the fields are the graph
struct Cyclic {
    name: String,
    other: RefCell<Option<Rc<Cyclic>>>,
}

/// Reachable at exit: not leaked.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Leaks, each made on a thread that then exits (so that no stale stack
/// word of a live thread points to them): a chain of three (direct head,
/// indirect rest), a cycle of two with a string each, a forgotten Vec of
/// eight boxes (its buffer direct, the boxes indirect), a lone block.
fn leak_known_graphs() {
    std::thread::spawn(|| {
        let c = Box::new(Node {
            payload: [3; 5],
            next: None,
        });
        let b = Box::new(Node {
            payload: [2; 5],
            next: Some(c),
        });
        // black_box: an optimised build may not elide a block that is only
        // ever forgotten.
        std::mem::forget(std::hint::black_box(Box::new(Node {
            payload: [1; 5],
            next: Some(b),
        })));
        let x = Rc::new(Cyclic {
            name: "x".repeat(30),
            other: RefCell::new(None),
        });
        let y = Rc::new(Cyclic {
            name: "y".repeat(70),
            other: RefCell::new(Some(x.clone())),
        });
        *x.other.borrow_mut() = Some(y);
        let boxes: Vec<Box<[u8; 100]>> = (0..8).map(|i| Box::new([i; 100])).collect();
        std::mem::forget(std::hint::black_box(boxes));
        std::mem::forget(std::hint::black_box(vec![7u8; 1000]));
        KEPT.lock().unwrap().push(vec![1u8; 5000]);
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "needs valgrind"]
fn leaks_at_exit_agree_with_valgrind_memcheck() {
    if child::role().is_some() {
        return leak_known_graphs();
    }
    // Run as a child the way `common/child.rs` does, but with
    // --include-ignored: this test is ignored in a plain run.
    let child = |wrapper: Option<&std::path::Path>, env: &[(&str, &str)]| {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match wrapper {
            Some(w) => {
                let mut c = Command::new(w);
                c.args(["--leak-check=full", "--show-leak-kinds=definite,indirect"])
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args([
            "--exact",
            TEST,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env("HEAPWISE_TEST_CHILD", "leak")
        .envs(env.iter().copied());
        cmd.output().expect("running the child")
    };
    let heapwise = child(
        None,
        &[("HEAPWISE_SNAPSHOT", "1"), ("HEAPWISE_LEAK_CHECK", "1")],
    );
    let stderr = String::from_utf8_lossy(&heapwise.stderr).into_owned();
    assert_eq!(
        heapwise.status.code(),
        Some(heapwise::snapshot::LEAK_EXIT_CODE),
        "{stderr}"
    );
    let ours = lsan_lost(&stderr);
    let valgrind = heapwise_test_support::tool("valgrind", "--version", "valgrind");
    let vg = child(Some(&valgrind), &[]);
    let report = String::from_utf8_lossy(&vg.stderr);
    let theirs = valgrind_lost(&report);
    // Direct: the chain's head, the cycle's first Rc, the Vec's buffer, the
    // lone block; indirect: the rest of the chain, the second Rc, both
    // strings, the eight boxes.
    eprintln!("heapwise {ours:?}, valgrind {theirs:?}");
    assert_eq!(ours, theirs, "heapwise:\n{stderr}\nvalgrind:\n{report}");
    assert_eq!(ours.1, 4, "{stderr}");
}
