//! `heapwise::record` in a forked child: the child may finish or drop its
//! copy of a recording. Alone in its binary: heapwise-probe's rule is that
//! a child detaches nothing if other threads ran probes at the fork, and
//! under valgrind another test's threads often were (the child hung).

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::time::Duration;

use heapwise::record::Recorder;

#[test]
fn a_forked_child_can_finish_or_drop_its_copy_of_a_recording() {
    // The counter thread stays in the parent: joining its handle in the
    // child panicked ("threads should not terminate unexpectedly").
    for finish in [true, false] {
        let rec = Recorder::new()
            .counter_interval(Duration::from_millis(1))
            .start();
        std::thread::sleep(Duration::from_millis(5));
        // SAFETY: the child only finishes or drops the recording and
        // leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if finish {
                    let trace = rec.finish();
                    let mut json = Vec::new();
                    trace.write_json(&mut json).unwrap();
                    assert!(String::from_utf8_lossy(&json).contains("forked child"));
                } else {
                    drop(rec);
                }
            }))
            .is_ok();
            // SAFETY: leaves the child without running the parent's code.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(status, 0, "the child (finish: {finish}) failed");
        let trace = rec.finish();
        assert!(trace.counter_samples() >= 2);
    }
}
