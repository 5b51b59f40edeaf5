//! Peer: jemalloc's heap profiler (tikv-jemallocator, feature `profiling`),
//! `prof:true,prof_active:true,lg_prof_sample:19,prof_accum:true`: one sample
//! per 512 KiB on average, the same rate as heapwise's default, and, as
//! heapwise's profile (and Go's) does, cumulative figures per stack besides
//! the live ones (`prof_accum`), so a profile taken after the workload has
//! freed everything still holds its samples. Backtraces through libgcc's
//! `_Unwind_Backtrace` (the crate does not offer jemalloc's frame-pointer
//! unwinder). `--profile-rate 1` (or `--prof-full`) switches to
//! `lg_prof_sample:0`, every allocation, through the `prof.reset` mallctl;
//! other powers of two set `lg_prof_sample` = log2(rate).
//!
//! After the timed runs (untimed) the profile is dumped with `prof.dump` and
//! checked to hold backtraces.
use std::path::Path;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Read by jemalloc at initialisation (the symbol carries tikv-jemalloc-sys's
/// `_rjem_` prefix).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:19,prof_accum:true\0";

struct JemallocProf;

impl heapwise_bench::Config for JemallocProf {
    fn modes(&self) -> &'static [&'static str] {
        &["global"]
    }

    fn run_in(&self, _mode: &str, f: &mut dyn FnMut()) -> Option<u64> {
        f();
        None
    }

    fn set_profile_rate(&self, bytes: u64) -> bool {
        assert!(
            bytes.is_power_of_two(),
            "jemalloc samples at powers of two: --profile-rate {bytes}"
        );
        let lg = bytes.trailing_zeros() as usize;
        // prof.reset discards the samples so far and sets lg_prof_sample.
        unsafe { tikv_jemalloc_ctl::raw::write(b"prof.reset\0", lg) }.expect("mallctl prof.reset");
        let now: usize = unsafe { tikv_jemalloc_ctl::raw::read(b"prof.lg_sample\0") }
            .expect("mallctl prof.lg_sample");
        assert_eq!(now, lg);
        true
    }

    fn finish_profile(&self, build: bool, write: Option<&Path>) -> Vec<(String, String)> {
        let lg: usize = unsafe { tikv_jemalloc_ctl::raw::read(b"prof.lg_sample\0") }
            .expect("mallctl prof.lg_sample");
        let mut out = vec![("profile_rate".to_string(), (1u64 << lg).to_string())];
        if !build {
            return out;
        }
        let tmp =
            std::env::temp_dir().join(format!("heapwise-bench-jeprof-{}.heap", std::process::id()));
        let path = write.unwrap_or(&tmp);
        let c = std::ffi::CString::new(path.to_str().expect("utf-8 path")).unwrap();
        let t = std::time::Instant::now();
        unsafe { tikv_jemalloc_ctl::raw::write(b"prof.dump\0", c.as_ptr()) }
            .expect("mallctl prof.dump");
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let text = std::fs::read_to_string(path).expect("read the jemalloc profile");
        // Every stack is one "@ 0x..." line in jemalloc's heap profile format.
        let stacks = text.lines().filter(|l| l.starts_with('@')).count();
        assert!(stacks > 0, "jemalloc prof.dump holds no backtrace");
        out.push(("profile_samples".into(), stacks.to_string()));
        out.push(("profile_build_ms".into(), format!("{ms:.1}")));
        if write.is_none() {
            let _ = std::fs::remove_file(&tmp);
        }
        out
    }
}

fn main() {
    let prof: bool =
        unsafe { tikv_jemalloc_ctl::raw::read(b"opt.prof\0") }.expect("mallctl opt.prof");
    let active: bool =
        unsafe { tikv_jemalloc_ctl::raw::read(b"prof.active\0") }.expect("mallctl prof.active");
    assert!(
        prof && active,
        "jemalloc profiling is not on: malloc_conf not picked up"
    );
    heapwise_bench::main("jemalloc_prof", &JemallocProf);
}
