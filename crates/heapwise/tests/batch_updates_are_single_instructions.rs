//! The allocator's entry points, as the optimiser built them, update the
//! thread's batch with one instruction per counter: no vector load, add and
//! store of two counters at once. A signal handler that allocates on the
//! thread between such a load and its store loses its counts
//! (`Local::record_realloc`; `signal_handlers_that_allocate.rs` catches that
//! only about one run in 20, this reads the code itself).
//!
//! Release builds on x86_64 Linux only (the debug build is not the
//! optimiser's output); needs `objdump` (binutils).
#![cfg(all(not(debug_assertions), target_arch = "x86_64", target_os = "linux"))]

use std::hint::black_box;
use std::process::Command;

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

/// The entry points the compiler emits for the global allocator.
const ENTRY_POINTS: [&str; 4] = [
    "__rustc::__rust_alloc",
    "__rustc::__rust_dealloc",
    "__rustc::__rust_realloc",
    "__rustc::__rust_alloc_zeroed",
];

/// Vector moves: a store of one of these to memory other than the stack
/// writes several 8-byte fields at once.
const VECTOR_MOVES: [&str; 10] = [
    "movdqu", "movdqa", "movups", "movaps", "vmovdqu", "vmovdqa", "vmovups", "vmovaps", "movhps",
    "movlps",
];

/// Each entry point's instructions, from `objdump -d -C` of this binary.
fn disassembly() -> Vec<(&'static str, Vec<String>)> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("objdump")
        .args(["-d", "-C", "--no-show-raw-insn"])
        .arg(&exe)
        .output()
        .expect("running objdump (binutils)");
    assert!(out.status.success(), "objdump failed");
    let text = String::from_utf8_lossy(&out.stdout);
    ENTRY_POINTS
        .iter()
        .map(|name| {
            let header = format!("<{name}>:");
            let body: Vec<String> = text
                .lines()
                .skip_while(|l| !l.ends_with(&header))
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            assert!(!body.is_empty(), "{name} not found in {}", exe.display());
            (*name, body)
        })
        .collect()
}

/// The instruction's mnemonic and its last operand (AT&T: the
/// destination), from an `objdump` line (`  addr:\tmnemonic ops`).
fn mnemonic_and_destination(line: &str) -> Option<(&str, &str)> {
    let insn = line.split('\t').nth(1)?.trim();
    let (mnemonic, operands) = insn.split_once(' ').unwrap_or((insn, ""));
    let operands = operands.split('#').next().unwrap_or("").trim();
    // The last operand: after the last comma outside parentheses.
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in operands.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => start = i + 1,
            _ => {}
        }
    }
    Some((mnemonic, operands[start..].trim()))
}

#[test]
#[ignore = "needs objdump (binutils)"]
fn the_batch_is_updated_one_counter_at_a_time() {
    // The entry points are linked whatever runs; run them once anyway.
    let mut v = black_box(vec![1u8; 100]);
    v.resize(10_000, 2);
    drop(black_box(v));
    let mut found = Vec::new();
    for (name, body) in disassembly() {
        for line in &body {
            let Some((mnemonic, dest)) = mnemonic_and_destination(line) else {
                continue;
            };
            let to_memory = dest.contains('(') || dest.starts_with("%fs:");
            let to_stack = dest.contains("(%rsp") || dest.contains("(%rbp");
            if VECTOR_MOVES.contains(&mnemonic) && to_memory && !to_stack {
                found.push(format!("{name}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "vector stores in the allocator's entry points (two counters updated by one load and store):\n{}",
        found.join("\n")
    );
}

#[test]
fn destinations_are_read_from_att_syntax() {
    assert_eq!(
        mnemonic_and_destination("   775dc:\tmovdqu %xmm0,0x18(%r14)"),
        Some(("movdqu", "0x18(%r14)"))
    );
    assert_eq!(
        mnemonic_and_destination("   77681:\tincq   0x18(%rbx)"),
        Some(("incq", "0x18(%rbx)"))
    );
    assert_eq!(
        mnemonic_and_destination("   1246b7:\taddq   $0xffffffffffffffc0,%fs:0xffffffffffff9dc0"),
        Some(("addq", "%fs:0xffffffffffff9dc0"))
    );
    assert_eq!(
        mnemonic_and_destination("   7749d:\tmovzbl (%rcx,%rax,1),%eax"),
        Some(("movzbl", "%eax"))
    );
}
