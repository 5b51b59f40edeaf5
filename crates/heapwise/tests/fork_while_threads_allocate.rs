//! `fork` while other threads allocate, sample, build profiles and enter
//! named scopes: no child may inherit one of heapwise's locks held by a
//! thread that does not exist in it (every one is taken around `fork`).
//! Before the fix, 18 children in 100 hung at rate 1.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use heapwise::profile::ProfileOptions;
use heapwise::Scope;

/// What a child does: allocate, enter a named scope, build a profile.
fn child_work() -> ! {
    let s = Scope::new().name("child");
    let n = s.run(|_| {
        let v: Vec<Vec<u8>> = (0..200).map(|i| vec![1u8; 64 + i]).collect();
        black_box(&v).len()
    });
    let p = ProfileOptions::new().addresses_only().heap();
    let code = if n == 200 && !p.sample.is_empty() {
        0
    } else {
        3
    };
    // SAFETY: ends the child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// How long a child may take before it counts as hung: 20 s, or 120 s
/// under valgrind, where a child runs ~100x slower and, with `.ci/run`'s
/// two valgrind processes on 2 cores, 2 of 20 children went past 20 s.
fn hang_timeout() -> Duration {
    Duration::from_secs(if common::under_valgrind() { 120 } else { 20 })
}

/// Waits for `pid` up to `timeout`; `None` if it hung (then it is killed).
fn wait_for(pid: libc::pid_t, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child, non-blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(status);
        }
        if Instant::now() >= deadline {
            // For whoever reads the failure: where the child waits.
            let proc = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}"));
            let stat = proc("stat").unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|r| r.split(' ').next());
            eprintln!(
                "child {pid} hung: state {state:?}, wchan {:?}, {} threads",
                proc("wchan").unwrap_or_default(),
                std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
            );
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn forked_children_never_hang_on_heapwise_locks() {
    let forks = if std::env::var_os("HEAPWISE_PROBE_SMALL").is_some() {
        20
    } else {
        300
    };
    heapwise::profile::set_rate(1);
    let stop = AtomicBool::new(false);
    let (mut hung, mut failed) = (0, 0);
    let timeout = hang_timeout();
    let mut slowest = Duration::ZERO;
    std::thread::scope(|s| {
        for t in 0..3 {
            let stop = &stop;
            s.spawn(move || {
                let scope = Scope::new().name(format!("worker-{t}"));
                let mut round = 0u64;
                while !stop.load(Relaxed) {
                    scope.run(|_| {
                        let v: Vec<Box<[u8]>> = (0..100)
                            .map(|i| vec![0u8; 16 + i].into_boxed_slice())
                            .collect();
                        black_box(v);
                    });
                    round += 1;
                    if round % 8 == 0 {
                        black_box(ProfileOptions::new().addresses_only().heap());
                    }
                    // A fresh named scope now and then: the registry's lock.
                    Scope::new().name("fresh").run(|_| black_box(vec![0u8; 10]));
                }
            });
        }
        for _ in 0..forks {
            // SAFETY: the child only runs `child_work`, which ends in `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                child_work();
            }
            assert!(pid > 0, "fork failed");
            let started = Instant::now();
            let status = wait_for(pid, timeout);
            slowest = slowest.max(started.elapsed());
            match status {
                None => hung += 1,
                Some(status) if status != 0 => failed += 1,
                Some(_) => {}
            }
        }
        stop.store(true, Relaxed);
    });
    heapwise::profile::set_rate(heapwise::profile::DEFAULT_RATE);
    // Informational: how close the slowest child came to the timeout.
    eprintln!("{forks} children, the slowest took {slowest:?} (timeout {timeout:?})");
    assert_eq!(
        (hung, failed),
        (0, 0),
        "of {forks} children: (hung, failed)"
    );
}
