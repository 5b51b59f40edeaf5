//! Where each thread's block ([`Local`](crate::local::Local)) lives: a `const` `thread_local!`,
//! or, with the feature `initial-exec-tls` on x86_64 Linux (the preload
//! library), a block in initial-exec TLS.
//!
//! # Why initial-exec
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS
//! model: each access calls `__tls_get_addr` (a call and about 11
//! instructions, on every malloc and every free under `heapwise run`).
//! Stable Rust cannot choose another model, so the block is declared here
//! in assembly, in `.tbss`, and reached with the initial-exec sequence
//! (`mov %fs:0` and an `add` of its offset from the GOT): two instructions,
//! no call. In an executable the linker turns that into a constant offset,
//! as for `thread_local!`. Measured on a malloc/free loop under the preload:
//! 334 → 299 instructions per pair (`bench/preload_callgrind.sh`).
//!
//! The cost: a shared library with initial-exec TLS must be loaded with the
//! program (`LD_PRELOAD`, or as a dependency), as the preload always is;
//! one `dlopen`ed later may fail to load ("cannot allocate memory in static
//! TLS block"). So only the preload enables the feature.
//!
//! # Contents
//!
//! `.tbss` is zeroed for every thread, and a zeroed [`Local`](crate::local::Local) is
//! `Local::new()` (a test in `block.rs`). Neither storage has a destructor,
//! so the block works before `main` and after thread-local destructors
//! ran.

#[cfg(not(all(
    feature = "initial-exec-tls",
    target_arch = "x86_64",
    target_os = "linux"
)))]
mod imp {
    use crate::local::Local;

    thread_local! {
        static LOCAL: Local = const { Local::new() };
    }

    /// This thread's block.
    #[inline(always)]
    pub(crate) fn block() -> *const Local {
        LOCAL.with(|l| l as *const Local)
    }
}

#[cfg(all(
    feature = "initial-exec-tls",
    target_arch = "x86_64",
    target_os = "linux"
))]
mod imp {
    use std::mem::{align_of, size_of};

    use crate::local::Local;

    // The block: `size_of::<Local>()` zero bytes, 64-aligned, one per
    // thread. Global for the crate's other codegen units, hidden from other
    // objects: each linked object has its own, reached through its GOT.
    std::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 6",
        ".globl heapwise_local_block",
        ".hidden heapwise_local_block",
        ".type heapwise_local_block,@object",
        ".size heapwise_local_block, {size}",
        "heapwise_local_block:",
        ".zero {size}",
        ".popsection",
        size = const size_of::<Local>(),
    );

    const _: () = assert!(align_of::<Local>() == 64);
    // What the zeroed block stands for (and a use of it in this build).
    const _: () = {
        let _ = Local::new();
    };

    /// This thread's block (the initial-exec sequence).
    #[inline(always)]
    pub(crate) fn block() -> *const Local {
        let p: *const Local;
        // SAFETY: reads `%fs:0` (the thread pointer, glibc's TCB
        // self-pointer) and the block's GOT entry, the offset from the
        // thread pointer to this thread's copy that the dynamic linker set;
        // no stack, no other memory. The result is the same for the whole
        // life of the thread, so `pure` lets the compiler reuse it within a
        // function.
        unsafe {
            std::arch::asm!(
                "mov {p}, qword ptr fs:[0]",
                "add {p}, qword ptr [rip + heapwise_local_block@GOTTPOFF]",
                p = out(reg) p,
                options(pure, readonly, nostack),
            );
        }
        debug_assert!(p as usize % 64 == 0);
        p
    }
}

pub(crate) use imp::block;

#[cfg(test)]
mod tests {
    use super::block;
    use crate::local::Local;

    /// Each thread has its own block, aligned, and it is the one the
    /// allocator uses.
    #[test]
    fn one_block_per_thread() {
        let here = block() as usize;
        let there = std::thread::spawn(|| block() as usize).join().unwrap();
        assert_ne!(here, there);
        assert_eq!(here % 64, 0);
        // SAFETY: used on this thread, within the test.
        let used = unsafe { crate::local::local() } as *const Local as usize;
        assert_eq!(here, used);
    }
}
