//! `fork` while other threads allocate, sample, build profiles and enter
//! named scopes: no child may inherit one of heapwise's locks held by a
//! thread that does not exist in it (every one is taken around `fork`).
//! Before the fix, 18 children in 100 hung at rate 1.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

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
            match wait_for(pid, Duration::from_secs(20)) {
                None => hung += 1,
                Some(status) if status != 0 => failed += 1,
                Some(_) => {}
            }
        }
        stop.store(true, Relaxed);
    });
    heapwise::profile::set_rate(heapwise::profile::DEFAULT_RATE);
    assert_eq!(
        (hung, failed),
        (0, 0),
        "of {forks} children: (hung, failed)"
    );
}
