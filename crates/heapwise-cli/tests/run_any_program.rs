//! `heapwise run -- CMD`: real C and Rust programs, compiled here with the
//! `cc` and `rustc` every Rust build needs, run under the preload library;
//! their profiles read back with `heapwise top --json`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{assert_one_error_line, heapwise, run_json, TempDir};

/// Compiles the C source `src` into `dir/name` with `flags`.
fn cc(dir: &TempDir, name: &str, src: &str, flags: &[&str]) -> PathBuf {
    let c = dir.join(&format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let exe = dir.join(name);
    let o = Command::new("cc")
        .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
        .arg(&exe)
        .arg(&c)
        .args(flags)
        .output()
        .expect("running cc");
    assert!(
        o.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

/// `heapwise` in `dir`, with the preload library the tests built.
fn heapwise_in(dir: &TempDir) -> Command {
    let mut c = heapwise();
    c.current_dir(dir.path())
        .env("HEAPWISE_PRELOAD", common::preload());
    c
}

/// `heapwise run ARGS -o DIR/p.%p.pb.gz -- CMD` in `dir`; fails if it
/// takes more than a minute (a deadlock in the preload hangs it).
fn run_under(dir: &TempDir, args: &[&str], cmd: &Path) -> Output {
    run_with_args(dir, args, cmd, &[])
}

/// [`run_under`] with arguments for the program.
fn run_with_args(dir: &TempDir, args: &[&str], cmd: &Path, cmd_args: &[&str]) -> Output {
    let child = heapwise_in(dir)
        .arg("run")
        .args(args)
        .args(["-o", "p.%p.pb.gz", "--"])
        .arg(cmd)
        .args(cmd_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running heapwise run");
    let pid = child.id();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    match receive.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.expect("waiting for heapwise run"),
        Err(_) => {
            // The program is heapwise's child: end both.
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &pid.to_string()])
                .status();
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "heapwise run -- {} did not end within a minute",
                cmd.display()
            );
        }
    }
}

/// The profiles written in `dir`.
fn profiles(dir: &TempDir) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".pb.gz"))
        .collect();
    v.sort();
    v
}

/// Flat `sample_index` by function name.
fn flat(profile: &Path, sample_index: &str) -> BTreeMap<String, i64> {
    column(profile, sample_index, "flat")
}

/// Column `col` (flat, cum) of `sample_index` by function name.
fn column(profile: &Path, sample_index: &str, col: &str) -> BTreeMap<String, i64> {
    let json = run_json(&[
        "top",
        "--json",
        "-n",
        "0",
        "--sample-index",
        sample_index,
        profile.to_str().unwrap(),
    ]);
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r[col].as_i64().unwrap(),
            )
        })
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SITES: &str = r#"
#include <stdlib.h>
#include <stdio.h>
__attribute__((noinline)) void *make_table(size_t n) { return malloc(n); }
__attribute__((noinline)) void *make_zeroed(size_t n) { return calloc(n, 8); }
__attribute__((noinline)) void *grow(void *p, size_t n) { return realloc(p, n); }
__attribute__((noinline)) void *aligned(size_t n) {
    void *p = 0;
    return posix_memalign(&p, 64, n) == 0 ? p : 0;
}
int main(void) {
    void *keep[100];
    for (int i = 0; i < 100; i++) keep[i] = make_table(1000);
    for (int i = 0; i < 50; i++) free(make_zeroed(100));
    void *g = make_table(10);
    for (int i = 1; i <= 20; i++) g = grow(g, 10000 * i);
    free(g);
    for (int i = 0; i < 7; i++) free(aligned(4096));
    for (int i = 0; i < 99; i++) free(keep[i]);
    puts("done");
    return 3;
}
"#;

#[test]
fn a_c_program_under_full_mode_has_exact_counts_at_its_own_functions() {
    let dir = TempDir::new("run-c");
    let exe = cc(&dir, "sites", SITES, &[]);
    let o = run_under(&dir, &["--full"], &exe);
    // The program's status and standard output are its own; the report
    // goes to standard error.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "done\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("heapwise: profile at "), "{err}");
    assert!(err.contains("grow"), "the top table names the sites: {err}");
    let files = profiles(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let objects = flat(&files[0], "alloc_objects");
    let bytes = flat(&files[0], "alloc_space");
    assert_eq!(objects["make_table"], 101, "{objects:?}");
    assert_eq!(bytes["make_table"], 100 * 1000 + 10);
    assert_eq!(objects["make_zeroed"], 50);
    assert_eq!(bytes["make_zeroed"], 50 * 800);
    // Each realloc is an allocation of its new size (as heaptrack counts).
    assert_eq!(objects["grow"], 20);
    assert_eq!(bytes["grow"], (1..=20).map(|i| 10_000 * i).sum::<i64>());
    assert_eq!(objects["aligned"], 7);
    assert_eq!(bytes["aligned"], 7 * 4096);
    // One block of make_table was never freed.
    let inuse = flat(&files[0], "inuse_space");
    assert_eq!(inuse["make_table"], 1000, "{inuse:?}");
    assert!(!inuse.contains_key("grow"), "{inuse:?}");
    // The preload's own entry points are hidden at the leaf.
    for hidden in ["malloc", "calloc", "realloc", "posix_memalign"] {
        assert!(!objects.contains_key(hidden), "{hidden}: {objects:?}");
    }
}

/// The stats line's `own` figure under full mode counts the carry bitmap's
/// pages written, not its reservation: each GiB of address space the heap
/// touches reserves 32 MiB of bitmap, which the program's `malloc` (the
/// preload's) counted whole, `own 64.1MiB` for a compiler whose profiler
/// held 19 MiB.
#[test]
fn the_stats_line_counts_the_bitmap_pages_written_not_reserved() {
    let dir = TempDir::new("run-own");
    let exe = cc(
        &dir,
        "own",
        r#"
#include <stdlib.h>
#include <unistd.h>
void *volatile keep[1001];
int main(void) {
    for (int i = 0; i < 1000; i++) keep[i] = malloc(64);
    keep[1000] = malloc(64 << 20); /* mmapped: another GiB of address space */
    usleep(400 * 1000);
    for (int i = 0; i <= 1000; i++) free(keep[i]);
    return 0;
}
"#,
        &[],
    );
    let o = run_under(&dir, &["--full", "--trace", "100ms"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let own: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("heapwise ") && l.contains(" | own "))
        .filter_map(|l| l.rsplit(" | own ").next())
        .collect();
    assert!(!own.is_empty(), "no stats line: {err}");
    for figure in own {
        assert!(
            figure.ends_with("KiB") || figure.ends_with('B') && !figure.ends_with("iB"),
            "own {figure}: more than a MiB of heapwise's own memory for 1001 blocks: {err}"
        );
    }
}

#[test]
fn allocations_before_main_are_counted_at_the_constructor() {
    let dir = TempDir::new("run-ctor");
    let src = r#"
#include <stdlib.h>
static void *early_block;
__attribute__((noinline)) void *early_alloc(void) { return malloc(12345); }
__attribute__((constructor)) static void early(void) { early_block = early_alloc(); }
int main(void) { free(early_block); return 0; }
"#;
    let exe = cc(&dir, "ctor", src, &[]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let bytes = flat(&files[0], "alloc_space");
    assert_eq!(bytes.get("early_alloc"), Some(&12345), "{bytes:?}");
}

/// The preload's constructor runs after those of the program's libraries;
/// the rate (here `--full`) is read at the first allocation, so what the
/// libraries allocate as they load is recorded at it too.
#[test]
fn allocations_in_a_librarys_constructor_are_recorded_at_the_rate_asked() {
    let dir = TempDir::new("run-lib-ctor");
    let lib_src = r#"
#include <stdlib.h>
static void *kept[1000];
__attribute__((noinline)) void *lib_alloc(size_t n) { return malloc(n); }
__attribute__((constructor)) static void lib_init(void) {
    for (int i = 0; i < 1000; i++) kept[i] = lib_alloc(100);
}
int lib_count(void) { return kept[999] != 0; }
"#;
    cc(&dir, "liblibctor.so", lib_src, &["-shared", "-fPIC"]);
    let main_src = "int lib_count(void);\nint main(void) { return lib_count() ? 0 : 3; }\n";
    let lib_dir = dir.path().display().to_string();
    let exe = cc(
        &dir,
        "uses_lib",
        main_src,
        &[
            &format!("-L{lib_dir}"),
            &format!("-Wl,-rpath,{lib_dir}"),
            "-llibctor",
        ],
    );
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let objects = flat(&files[0], "alloc_objects");
    assert_eq!(objects.get("lib_alloc"), Some(&1000), "{objects:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let summary = err
        .lines()
        .find(|l| l.contains(" allocations ("))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    let count: u64 = summary["heapwise: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!((1000..1100).contains(&count), "{summary}");
}

#[test]
fn a_forked_child_writes_its_own_profile() {
    let dir = TempDir::new("run-fork");
    let src = r#"
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
__attribute__((noinline)) void *in_parent(void) { return malloc(1111); }
__attribute__((noinline)) void *in_child(void) { return malloc(2222); }
int main(void) {
    void *a = in_parent();
    pid_t pid = fork();
    if (pid == 0) { void *b = in_child(); free(b); exit(0); }
    int status;
    waitpid(pid, &status, 0);
    free(a);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 9;
}
"#;
    let exe = cc(&dir, "forks", src, &[]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    assert_eq!(files.len(), 2, "one profile per process: {files:?}");
    let sites: Vec<BTreeMap<String, i64>> = files.iter().map(|f| flat(f, "alloc_space")).collect();
    let child = sites
        .iter()
        .find(|s| s.contains_key("in_child"))
        .expect("the child's profile");
    assert_eq!(child["in_child"], 2222, "{child:?}");
    let parent = sites
        .iter()
        .find(|s| !s.contains_key("in_child"))
        .expect("the parent's profile");
    assert_eq!(parent["in_parent"], 1111, "{parent:?}");
    // The report says the child's profile is there too.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("heapwise: 1 more profile from the program's child processes"),
        "{err}"
    );
}

#[test]
fn peak_reports_what_was_live_at_the_high_water_mark() {
    let dir = TempDir::new("run-peak");
    let src = r#"
#include <stdlib.h>
__attribute__((noinline)) void *spike_block(void) { return malloc(100000); }
__attribute__((noinline)) void *small_block(void) { return malloc(1000); }
int main(void) {
    void *spike[50];
    for (int i = 0; i < 50; i++) spike[i] = spike_block();
    for (int i = 0; i < 50; i++) free(spike[i]);
    for (int i = 0; i < 2000; i++) free(small_block());
    return 0;
}
"#;
    let exe = cc(&dir, "peaks", src, &[]);
    let o = run_under(&dir, &["--full", "--peak"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Top sites by bytes live at the peak"), "{err}");
    assert!(err.contains("--peak):"), "{err}");
    let files = profiles(&dir);
    let peak = flat(&files[0], "peak_space");
    assert_eq!(peak["spike_block"], 50 * 100_000, "{peak:?}");
    assert!(!peak.contains_key("small_block"), "{peak:?}");
    let temporary = flat(&files[0], "temporary_objects");
    assert_eq!(temporary["small_block"], 2000, "{temporary:?}");
}

#[test]
fn a_program_that_exits_from_a_thread_still_writes_its_profile() {
    let dir = TempDir::new("run-exit-thread");
    let src = r#"
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
__attribute__((noinline)) void *worker_alloc(void) { return malloc(4321); }
static void *worker(void *arg) { (void)arg; worker_alloc(); exit(5); }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    for (;;) pause();
}
"#;
    let exe = cc(&dir, "exit_thread", src, &["-pthread"]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let files = profiles(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let inuse = flat(&files[0], "inuse_space");
    assert_eq!(inuse.get("worker_alloc"), Some(&4321), "{inuse:?}");
}

#[test]
fn a_death_by_signal_is_128_plus_the_signal() {
    let dir = TempDir::new("run-signal");
    let src = "#include <signal.h>\nint main(void) { raise(SIGTERM); return 0; }\n";
    let exe = cc(&dir, "killed", src, &[]);
    let o = run_under(&dir, &[], &exe);
    assert_eq!(o.status.code(), Some(128 + 15), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(".pb.gz: the program died of signal 15 (SIGTERM) before writing one; --every 10s rewrites it as the program runs, so one survives a kill\n"),
        "{err}"
    );
    assert!(err.starts_with("heapwise: no profile at "), "{err}");
}

#[test]
fn a_rust_program_on_the_system_allocator_is_profiled() {
    let dir = TempDir::new("run-rust");
    let src = r#"
#[inline(never)]
fn build_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("name number {i:08}")).collect()
}
#[inline(never)]
fn build_index(names: &[String]) -> std::collections::HashMap<&str, Vec<usize>> {
    let mut m = std::collections::HashMap::new();
    for (i, n) in names.iter().enumerate() {
        m.insert(n.as_str(), vec![i; 2]);
    }
    m
}
fn main() {
    let v = build_names(5000);
    let m = build_index(&v);
    println!("{}", m.len());
}
"#;
    let rs = dir.join("names.rs");
    std::fs::write(&rs, src).unwrap();
    let exe = dir.join("names");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let o = Command::new(rustc)
        .args(["-g", "-C", "opt-level=1", "-o"])
        .arg(&exe)
        .arg(&rs)
        .output()
        .expect("running rustc");
    assert!(
        o.status.success(),
        "rustc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "5000\n");
    let files = profiles(&dir);
    let objects = column(&files[0], "alloc_objects", "cum");
    let (name, &count) = objects
        .iter()
        .find(|(k, _)| k.ends_with("build_names"))
        .unwrap_or_else(|| panic!("build_names among {objects:?}"));
    // One String per name (its growth inside format! aside), plus the Vec.
    assert!((5001..=3 * 5000).contains(&count), "{name}: {count}");
    // Their caller too: the program has no frame pointers, the standard
    // library it links has, and a walk that judged the object by a sample
    // of its functions (all std's) stepped through the program's frames by
    // frame pointers and lost `main` (the map's growth kept none of it).
    let index = objects.get("names::build_index").copied().unwrap_or(0);
    let main = objects.get("names::main").copied().unwrap_or(0);
    assert!(index >= 5000, "names::build_index {index}: {objects:?}");
    assert!(
        main >= count + index,
        "names::main {main} < {name} {count} + build_index {index}: {objects:?}"
    );
}

#[test]
fn static_and_setuid_programs_are_refused_in_one_line() {
    let dir = TempDir::new("run-refuse");
    let exe = cc(
        &dir,
        "static",
        "int main(void) { return 0; }\n",
        &["-static"],
    );
    let o = run_under(&dir, &[], &exe);
    assert_one_error_line(&o, &["statically linked"]);
    let exe = cc(&dir, "setuid", "int main(void) { return 0; }\n", &[]);
    let mut perms = std::fs::metadata(&exe).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o4755);
    std::fs::set_permissions(&exe, perms).unwrap();
    let o = run_under(&dir, &[], &exe);
    assert_one_error_line(&o, &["setuid"]);
}

#[test]
fn a_missing_preload_is_one_error_line() {
    let dir = TempDir::new("run-missing");
    let o = heapwise()
        .current_dir(dir.path())
        .env("HEAPWISE_PRELOAD", dir.join("nowhere.so"))
        .args(["run", "--", "true"])
        .output()
        .unwrap();
    assert_one_error_line(&o, &["HEAPWISE_PRELOAD", "nowhere.so"]);
}

/// Runs `heapwise top` (a program that installs `heapwise::Alloc`
/// itself) on a small profile under `heapwise run ARGS`.
fn run_own_heapwise(dir: &TempDir, args: &[&str]) -> Output {
    let input = common::write_profile(&common::inline_profile(), dir.join("in.pb.gz"));
    let heapwise = Path::new(env!("CARGO_BIN_EXE_heapwise"));
    run_with_args(dir, args, heapwise, &["top", &input])
}

/// The address in the preload's `heapwise: serving http://ADDR/...` line.
fn served_addr(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("heapwise: serving http://")?;
    Some(rest.split_once("/debug/pprof/heap")?.0)
}

#[test]
fn a_program_with_heapwise_of_its_own_is_counted_once() {
    // The heapwise binary itself installs heapwise::Alloc. Its runtime's
    // own memory (symbolizing its profile at exit) is not the program's:
    // counted by the preload too, it would top the profile.
    let dir = TempDir::new("run-own-heapwise");
    let o = run_own_heapwise(&dir, &["--full"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let profile = files
        .iter()
        .find(|f| f.file_name().unwrap().to_str().unwrap().starts_with("p."))
        .expect("the profile");
    let bytes = flat(profile, "alloc_space");
    assert!(
        bytes.keys().any(|k| k.starts_with("heapwise_pprof::")),
        "the program's work (decoding the profile) is in it: {bytes:?}"
    );
    for name in bytes.keys() {
        assert!(
            !name.starts_with("addr2line::") && !name.starts_with("gimli::"),
            "the runtime's own symbolization counted: {name} in {bytes:?}"
        );
    }
}

#[test]
fn the_endpoint_closes_for_a_program_with_heapwise_of_its_own() {
    // Its figures are in its own runtime: the preload's endpoint would
    // serve empty profiles. It closes before main, and says so.
    let dir = TempDir::new("run-own-heapwise-http");
    let o = run_own_heapwise(&dir, &["--http", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let addr = err
        .lines()
        .find_map(served_addr)
        .unwrap_or_else(|| panic!("no serving line: {err}"));
    let closed = format!("heapwise: closed http://{addr}: the program has heapwise of its own");
    assert!(
        err.lines().any(|l| l.starts_with(&closed)),
        "no closing line for {addr}: {err}"
    );
}

#[test]
fn a_library_loaded_later_is_unwound_and_named() {
    let dir = TempDir::new("run-dlopen");
    let lib_src = r#"
#include <stdlib.h>
static void *at_load;
__attribute__((noinline)) void *plugin_alloc(size_t n) { return malloc(n); }
__attribute__((constructor)) static void plugin_init(void) { at_load = plugin_alloc(777); }
void plugin_work(void) { for (int i = 0; i < 30; i++) free(plugin_alloc(3000)); free(at_load); }
"#;
    let lib = cc(&dir, "libplugin.so", lib_src, &["-shared", "-fPIC"]);
    let main_src = format!(
        r#"
#include <dlfcn.h>
#include <stdio.h>
int main(void) {{
    for (int round = 0; round < 2; round++) {{
        void *h = dlopen("{}", RTLD_NOW);
        if (!h) {{ fprintf(stderr, "%s\n", dlerror()); return 2; }}
        void (*work)(void) = (void (*)(void))dlsym(h, "plugin_work");
        work();
        if (round == 0) dlclose(h);
    }}
    return 0;
}}
"#,
        lib.display()
    );
    let exe = cc(&dir, "host", &main_src, &["-ldl"]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let objects = flat(&files[0], "alloc_objects");
    // Two loads: the constructor's block and 30 in plugin_work each time.
    // The second stays loaded, so its blocks are named; the first load's
    // are named only if the second landed at the same address (the
    // profile is symbolized at exit, from the objects loaded then).
    let named = objects.get("plugin_alloc").copied().unwrap_or(0);
    let unknown = objects.get("<unknown>").copied().unwrap_or(0);
    assert!(named >= 31, "{objects:?}");
    assert_eq!(named + unknown, 62, "{objects:?}");
}

#[test]
fn malloc_in_a_signal_handler_does_not_deadlock() {
    // Not async-signal-safe in C's terms, but programs do it (glibc's own
    // malloc copes). The handler interrupts the runtime anywhere, its slow
    // path (sampling, full mode) included.
    let dir = TempDir::new("run-signal-malloc");
    let src = r#"
#include <stdlib.h>
#include <signal.h>
#include <sys/time.h>
static volatile sig_atomic_t ticks;
static void on_tick(int sig) { (void)sig; free(malloc(48)); ticks++; }
__attribute__((noinline)) void *churn(size_t n) { return malloc(n); }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, 0);
    struct itimerval every = {{0, 200}, {0, 200}};
    setitimer(ITIMER_PROF, &every, 0);
    for (long i = 0; i < 2000000; i++) free(churn(16 + i % 512));
    every.it_value.tv_usec = 0; every.it_interval.tv_usec = 0;
    setitimer(ITIMER_PROF, &every, 0);
    return ticks > 0 ? 0 : 7;
}
"#;
    let exe = cc(&dir, "ticks", src, &[]);
    // At rate 64 nearly every allocation is sampled, so the handler often
    // interrupts the live table's insert and frees a block on a page with
    // sampled ones: 7 runs in 10 hung when that free waited for the lock
    // its own thread held.
    for mode in [
        &["--full"][..],
        &["--rate", "4096"][..],
        &["--rate", "64"][..],
    ] {
        let o = run_under(&dir, mode, &exe);
        assert_eq!(o.status.code(), Some(0), "{mode:?}: {}", text(&o));
    }
    let files = profiles(&dir);
    let objects = flat(&files[0], "alloc_objects");
    assert!(objects.contains_key("churn"), "{objects:?}");
}

#[test]
fn a_block_the_preload_did_not_allocate_goes_to_the_next_free_uncounted() {
    // __libc_malloc is glibc's malloc under another name, which the preload
    // does not interpose: its blocks are what any block allocated before
    // the preload was in place looks like.
    let dir = TempDir::new("run-foreign");
    let src = r#"
#include <stdlib.h>
#include <malloc.h>
extern void *__libc_malloc(size_t);
__attribute__((noinline)) void *counted(size_t n) { return malloc(n); }
int main(void) {
    for (int i = 0; i < 1000; i++) {
        char *p = __libc_malloc(100 + i);
        p[0] = 1;
        if (malloc_usable_size(p) < (size_t)(100 + i)) return 3;
        p = realloc(p, 5000);
        if (!p || p[0] != 1) return 4;
        free(p);
    }
    free(counted(55));
    return 0;
}
"#;
    let exe = cc(&dir, "foreign", src, &[]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let objects = flat(&files[0], "alloc_objects");
    assert_eq!(objects.get("counted"), Some(&1), "{objects:?}");
    let in_main = objects.get("main").copied().unwrap_or(0);
    assert_eq!(in_main, 0, "foreign blocks are not counted: {objects:?}");
}

#[test]
fn a_supervisors_signals_to_heapwise_reach_the_program() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new("run-signals");
    let src = r#"
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t seen[32], n;
static void on(int s) { seen[s] = 1; n++; }
int main(void) {
    int sigs[] = {SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (int i = 0; i < 4; i++) signal(sigs[i], on);
    puts("ready");
    fflush(stdout);
    for (int ms = 0; n < 4 && ms < 20000; ms++) usleep(1000);
    printf("hup %d quit %d usr1 %d usr2 %d\n", seen[SIGHUP], seen[SIGQUIT], seen[SIGUSR1], seen[SIGUSR2]);
    return 0;
}
"#;
    let exe = cc(&dir, "reloads", src, &[]);
    let mut child = heapwise_in(&dir)
        .args(["run", "-o", "p.%p.pb.gz", "--"])
        .arg(&exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    for signal in ["-HUP", "-QUIT", "-USR1", "-USR2"] {
        let kill = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        send.send((child.wait_with_output(), rest))
    });
    let (o, rest) = receive
        .recv_timeout(Duration::from_secs(60))
        .expect("the program ends after the four signals or 20 s");
    let o = o.unwrap();
    assert_eq!(rest, "hup 1 quit 1 usr1 1 usr2 1\n", "{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("heapwise: profile at"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_sigterm_to_heapwise_reaches_the_program_and_the_periodic_profile_survives() {
    let dir = TempDir::new("run-every");
    let src = r#"
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) void *held(size_t n) { return malloc(n); }
int main(void) {
    void *volatile keep = held(65536);
    (void)keep;
    for (;;) pause();
}
"#;
    let exe = cc(&dir, "waits", src, &[]);
    let child = heapwise_in(&dir)
        .args([
            "run",
            "--full",
            "--every",
            "100ms",
            "-o",
            "p.%p.pb.gz",
            "--",
        ])
        .arg(&exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the first periodic profile is written (a minute at most).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while profiles(&dir).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no periodic profile");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    let o = receive
        .recv_timeout(Duration::from_secs(60))
        .expect("heapwise run ends once its program is gone")
        .unwrap();
    // The program died of the forwarded SIGTERM: 128 + 15.
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("heapwise: profile at"), "{}", text(&o));
    // Its figures are the last periodic profile's, not at exit (it said
    // "not freed at exit" of a profile seconds old).
    assert!(
        err.contains("\nheapwise: the program died of signal 15 (SIGTERM): this is the last profile --every wrote, "),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("; live then: 64.4 KiB in 5 blocks\n"),
        "{}",
        text(&o)
    );
    assert!(!err.contains("not freed at exit"), "{}", text(&o));
    let files = profiles(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let inuse = flat(&files[0], "inuse_space");
    assert_eq!(inuse.get("held"), Some(&65536), "{inuse:?}");
}

#[test]
#[ignore = "needs g++"]
fn a_cpp_program_has_demangled_names_and_operator_new_hidden() {
    let dir = TempDir::new("run-cpp");
    let src = r#"
#include <map>
#include <string>
namespace app {
__attribute__((noinline)) std::map<int, std::string> build(int n) {
    std::map<int, std::string> m;
    for (int i = 0; i < n; i++) m[i] = std::string(100, 'x');
    return m;
}
}
int main() { return app::build(1000).size() == 1000 ? 0 : 1; }
"#;
    let cc_file = dir.join("build.cc");
    std::fs::write(&cc_file, src).unwrap();
    let exe = dir.join("build");
    let o = Command::new("g++")
        .args(["-O1", "-g", "-o"])
        .arg(&exe)
        .arg(&cc_file)
        .output()
        .expect("needs g++ (apt-get install g++)");
    assert!(
        o.status.success(),
        "g++: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let objects = column(&files[0], "alloc_objects", "cum");
    // 1000 tree nodes and 1000 strings of 100 bytes.
    let build = objects
        .iter()
        .find(|(k, _)| k.starts_with("app::build"))
        .unwrap_or_else(|| panic!("app::build among {objects:?}"));
    assert_eq!(*build.1, 2000, "{objects:?}");
    assert!(
        !objects
            .keys()
            .any(|k| k.starts_with("_Z") || k.starts_with("operator new")),
        "{objects:?}"
    );
}

#[test]
fn fork_while_other_threads_allocate_leaves_no_lock_held() {
    let dir = TempDir::new("run-fork-threads");
    let src = r#"
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/wait.h>
static volatile int stop;
__attribute__((noinline)) void *busy_alloc(size_t n) { return malloc(n); }
static void *busy(void *arg) {
    (void)arg;
    for (long i = 0; !stop; i++) free(busy_alloc(16 + i % 4096));
    return 0;
}
__attribute__((noinline)) void *child_alloc(size_t n) { return malloc(n); }
int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, busy, 0);
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 100; i++) free(child_alloc(100 + i));
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    }
    stop = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    return 0;
}
"#;
    let exe = cc(&dir, "fork_threads", src, &["-pthread"]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    assert_eq!(files.len(), 21, "the parent's and 20 children's: {files:?}");
    let children = files
        .iter()
        .filter(|f| flat(f, "alloc_objects").get("child_alloc") == Some(&100))
        .count();
    assert_eq!(children, 20);
}

#[test]
fn blocks_of_threads_that_exited_are_freed_by_others() {
    let dir = TempDir::new("run-thread-exit");
    let src = r#"
#include <stdlib.h>
#include <pthread.h>
__attribute__((noinline)) void *made_by_thread(size_t n) { return malloc(n); }
static void *maker(void *arg) {
    void **out = arg;
    for (int i = 0; i < 1000; i++) out[i] = made_by_thread(64 + i);
    return 0;
}
int main(void) {
    static void *blocks[8][1000];
    pthread_t t[8];
    for (int k = 0; k < 8; k++) pthread_create(&t[k], 0, maker, blocks[k]);
    for (int k = 0; k < 8; k++) pthread_join(t[k], 0);
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < 1000; i++) free(blocks[k][i]);
    return 0;
}
"#;
    let exe = cc(&dir, "thread_exit", src, &["-pthread"]);
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = profiles(&dir);
    let objects = flat(&files[0], "alloc_objects");
    assert_eq!(objects.get("made_by_thread"), Some(&8000), "{objects:?}");
    let bytes = flat(&files[0], "alloc_space");
    assert_eq!(bytes["made_by_thread"], 8 * (1000 * 64 + 999 * 1000 / 2));
    let inuse = flat(&files[0], "inuse_objects");
    assert_eq!(
        inuse.get("made_by_thread").copied().unwrap_or(0),
        0,
        "{inuse:?}"
    );
}

#[test]
fn programs_a_script_runs_are_followed_unless_no_follow() {
    let src = r#"
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) void *in_second(size_t n) { return malloc(n); }
int main(void) {
    free(in_second(3333));
    const char *p = getenv("LD_PRELOAD");
    printf("second ran; LD_PRELOAD=%s\n", p ? p : "(unset)");
    return 0;
}
"#;
    for no_follow in [false, true] {
        let dir = TempDir::new(if no_follow {
            "run-no-follow"
        } else {
            "run-follow"
        });
        let second = cc(&dir, "second", src, &[]);
        // The shell forks and execs the second program, then exits (Debian's
        // sh, dash, leaves with _exit: it writes no profile of its own).
        let script = dir.join("script.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\n{}\necho script done\n", second.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // Another preload in the list stays in it.
        let mut args = vec!["--full"];
        if no_follow {
            args.push("--no-follow");
        }
        let child = heapwise_in(&dir)
            .env("LD_PRELOAD", "libm.so.6")
            .arg("run")
            .args(&args)
            .args(["-o", "p.%p.pb.gz", "--"])
            .arg(&script)
            .output()
            .expect("running heapwise run");
        assert_eq!(child.status.code(), Some(0), "{}", text(&child));
        let out = String::from_utf8_lossy(&child.stdout);
        let files = profiles(&dir);
        let seconds = files
            .iter()
            .filter(|f| flat(f, "alloc_space").contains_key("in_second"))
            .count();
        if no_follow {
            assert!(out.contains("second ran; LD_PRELOAD=libm.so.6\n"), "{out}");
            assert_eq!(seconds, 0, "{files:?}");
        } else {
            assert!(
                out.contains(&format!(
                    "second ran; LD_PRELOAD={}:libm.so.6\n",
                    common::preload().display()
                )),
                "{out}"
            );
            assert_eq!(seconds, 1, "{files:?}");
            let err = String::from_utf8_lossy(&child.stderr);
            assert!(err.contains("from the program's child processes"), "{err}");
        }
    }
}

#[test]
fn a_command_that_does_not_start_exits_127_or_126_as_in_a_shell() {
    let dir = TempDir::new("run-not-started");
    let script = dir.join("no-shebang.sh");
    std::fs::write(&script, "echo hi\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plain = dir.join("plain.txt");
    std::fs::write(&plain, "text\n").unwrap();
    let cases: [(&str, i32, &str); 5] = [
        (
            "no-such-command-here",
            127,
            "no-such-command-here: command not found on PATH",
        ),
        ("./missing", 127, "./missing: no such file or directory"),
        ("./", 126, "./: is a directory"),
        (
            "./plain.txt",
            126,
            "cannot run ./plain.txt: permission denied",
        ),
        (
            "./no-shebang.sh",
            126,
            "cannot run ./no-shebang.sh: not an executable format (a script needs a #! line)",
        ),
    ];
    for (command, code, said) in cases {
        let o = heapwise_in(&dir)
            .args(["run", "--", command])
            .output()
            .expect("running heapwise run");
        assert_eq!(o.status.code(), Some(code), "{command}: {}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("heapwise: error: {said}\n"),
            "{command}"
        );
    }
}

#[test]
fn the_report_sums_the_run_up_in_one_line() {
    let src = r#"
#include <stdlib.h>
static void *volatile sink;
int main(void) {
    void *keep[10];
    for (int i = 0; i < 1000; i++) { sink = malloc(100); free(sink); }
    for (int i = 0; i < 10; i++) keep[i] = malloc(1000);
    for (int i = 0; i < 5; i++) free(keep[i]);
    sink = keep[9];
    return 0;
}
"#;
    let dir = TempDir::new("run-summary");
    let exe = cc(&dir, "sums", src, &[]);
    // heaptrack's summary of the same run: 1,011 calls to allocation
    // functions, 1,002 temporary, 5.00K leaked, and a peak of 82.70K, of
    // which 72.70K in one call from the libstdc++ it loads itself.
    let o = run_under(&dir, &["--full"], &exe);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("\nheapwise: 1,010 allocations (107.4 KiB), 1,000 temporary; peak heap 9.8 KiB in 10 blocks; not freed at exit: 4.9 KiB in 5 blocks\n"),
        "{err}"
    );
    // Sampled: the same figures, from the allocator's counters, which see
    // every call (the profile carries them in a comment); only the sites
    // are estimates. The process figures once counted glibc's free of the
    // 32 bytes it had allocated to register the thread's exit flush (a
    // phantom free: "in 4 blocks").
    for rate in ["1KiB", "512KiB"] {
        let o = run_under(&dir, &["--rate", rate], &exe);
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err
            .lines()
            .find(|l| l.contains("allocations ("))
            .unwrap_or_else(|| panic!("{err}"));
        let rate = rate.replace("KiB", " KiB");
        assert_eq!(
            line,
            format!("heapwise: 1,010 allocations (107.4 KiB); peak heap 9.8 KiB; not freed at exit: 4.9 KiB in 5 blocks (sites below estimated from one sample every {rate})"),
        );
    }
}

#[test]
fn an_output_without_pid_is_the_commands_and_children_keep_theirs() {
    let src = r#"
#include <stdlib.h>
static void *volatile sink;
__attribute__((noinline)) void *in_program(size_t n) { return malloc(n); }
int main(void) { sink = in_program(7777); free(sink); return 0; }
"#;
    let dir = TempDir::new("run-no-pid");
    let exe = cc(&dir, "program", src, &[]);
    // bash runs the program in a child and leaves through exit(): both
    // write a profile, the shell last. It wrote over the program's before.
    let o = heapwise_in(&dir)
        .args(["run", "--full", "-o", "one.pb.gz", "--"])
        .args(["/bin/bash", "-c", "\"$0\"; true"])
        .arg(&exe)
        .output()
        .expect("running heapwise run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let one = dir.join("one.pb.gz");
    assert!(
        err.starts_with(&format!("heapwise: profile at {}\n", one.display())),
        "{err}"
    );
    assert!(
        err.contains("heapwise: 1 more profile from the program's child processes"),
        "{err}"
    );
    let files = profiles(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let bytes = flat(&one, "alloc_space");
    assert!(!bytes.contains_key("in_program"), "the shell's: {bytes:?}");
    let child = files.iter().find(|f| **f != one).unwrap();
    let name = child.file_name().unwrap().to_str().unwrap();
    let pid = name
        .strip_prefix("one.")
        .and_then(|n| n.strip_suffix(".pb.gz"))
        .unwrap_or_else(|| panic!("{name}"));
    assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{name}");
    assert_eq!(flat(child, "alloc_space").get("in_program"), Some(&7777));
}

#[test]
fn a_report_nobody_reads_keeps_the_programs_status() {
    let dir = TempDir::new("run-report-pipe");
    let mut child = heapwise_in(&dir)
        .args(["run", "--", "/bin/sh", "-c", "sleep 0.3; exit 3"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the report is written.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{status}");
}

#[test]
fn a_taken_http_port_is_refused_before_the_program_runs() {
    // The preload said 'HEAPWISE_HTTP=…: Address already in use (os error
    // 98); no endpoint' as the program started, which ran without one.
    let dir = TempDir::new("run-http-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = heapwise_in(&dir)
        .args(["run", "--http", &addr, "--", "/bin/sh", "-c", "echo ran"])
        .output()
        .expect("running heapwise run");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(o.stdout.is_empty(), "the program ran: {}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("heapwise: error: --http {addr}: address already in use\n")
    );
}

#[test]
fn bad_flag_values_are_usage_errors_naming_the_flag() {
    // They ran the program, then warned about HEAPWISE_PROFILE_EVERY (or
    // HEAPWISE_HTTP, with advice for Rust's API), or printed nothing.
    let dir = TempDir::new("run-flags");
    for (args, says) in [
        (
            &["--every", "abc"][..],
            "'--every <INTERVAL>': \"abc\" is not a number with a unit",
        ),
        (
            &["--every", "0s"][..],
            "'--every <INTERVAL>': \"0s\" is out of range (10ms to a year)",
        ),
        (
            &["--trace", "0"][..],
            "'--trace <INTERVAL>': \"0\" prints no line",
        ),
        (
            &["--http", "0.0.0.0:0"][..],
            "'--http <ADDR>': \"0.0.0.0:0\" is not a loopback address",
        ),
        (
            &["--http", "6060"][..],
            "'--http <ADDR>': \"6060\" is not an address with a port",
        ),
    ] {
        let o = heapwise_in(&dir)
            .arg("run")
            .args(args)
            .args(["--", "/bin/sh", "-c", "echo ran"])
            .output()
            .expect("running heapwise run");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            o.stdout.is_empty(),
            "{args:?}: the program ran: {}",
            text(&o)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("HEAPWISE_"), "{args:?}: {err}");
    }
}

#[test]
fn an_empty_table_says_why() {
    let dir = TempDir::new("run-empty");
    let exe = cc(
        &dir,
        "one_malloc",
        "#include <stdlib.h>\nstatic void *volatile sink;\nint main(void) { sink = malloc(10); free(sink); return 0; }\n",
        &[],
    );
    let o = heapwise_in(&dir)
        .args(["run", "--rate", "64KiB", "--"])
        .arg(&exe)
        .output()
        .expect("running heapwise run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Showing nodes accounting for 0, 0% of 0 total\n"),
        "{err}"
    );
    assert!(
        err.contains("heapwise: no allocation was sampled: at one sample every 64 KiB allocated, a program that allocates less shows nothing; --full records every allocation\n"),
        "{err}"
    );
    // A program that allocates nothing says so, at any rate, with no table.
    for rate in [&["--full"][..], &["--rate", "64KiB"], &[]] {
        let o = heapwise_in(&dir)
            .arg("run")
            .args(rate)
            .args(["--", "/bin/true"])
            .output()
            .expect("running heapwise run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(
                "\nheapwise: no allocation: the program made none through malloc and friends\n"
            ),
            "{rate:?}: {err}"
        );
        assert!(!err.contains("Top sites"), "{rate:?}: {err}");
    }
    // Profiling off: the process's figures, and why there are no sites.
    let o = heapwise_in(&dir)
        .args(["run", "--rate", "0", "--"])
        .arg(&exe)
        .output()
        .expect("running heapwise run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("heapwise: 1 allocation (10 bytes); peak heap 10 bytes; all freed at exit (no sites: profiling was off (--rate 0); --full records every allocation)\n"),
        "{err}"
    );
    assert!(!err.contains("Top sites"), "{err}");
    // A program that turns its own profiler off (this CLI does): not
    // blamed on a --rate 0 no one gave.
    let o = heapwise_in(&dir)
        .args(["run", "--"])
        .arg(env!("CARGO_BIN_EXE_heapwise"))
        .arg("--version")
        .output()
        .expect("running heapwise run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("(no sites: the program turned profiling off)\n"),
        "{err}"
    );
}

#[test]
fn a_profile_directory_that_takes_no_files_fails_before_the_program_runs() {
    let dir = TempDir::new("run-unwritable");
    let marker = dir.join("ran");
    // The program makes `marker`.
    let run_to = |output: &str| {
        heapwise_in(&dir)
            .args(["run", "-o", output, "--", "/bin/sh", "-c", "touch \"$0\""])
            .arg(&marker)
            .output()
            .expect("running heapwise run")
    };
    let o = run_to("missing/p.%p.pb.gz");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        format!(
            "heapwise: error: cannot write the profile {0}/missing/p.%p.pb.gz: {0}/missing: no such file or directory\n",
            dir.path().display()
        )
    );
    assert!(!marker.exists(), "the program ran");
    // A directory named per process would not exist: every process's
    // profile would be lost, the run exiting 0.
    let o = run_to("d%p/p.pb.gz");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "heapwise: error: -o {}/d%p/p.pb.gz: %p (the process id) goes in the file name: each process's directory would have to exist already\n",
            dir.path().display()
        )
    );
    assert!(!marker.exists(), "the program ran");
}

#[test]
fn no_follow_follows_the_command_through_exec_and_not_what_it_starts() {
    // The command, reached through a shell's `exec` (as a pyenv shim does):
    // it allocates, then forks and execs its argument, and waits for it.
    let command_src = r#"
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
__attribute__((noinline)) void *in_command(size_t n) { return malloc(n); }
int main(int argc, char **argv) {
    free(in_command(4444));
    pid_t pid = fork();
    if (pid == 0) { execv(argv[1], argv + 1); _exit(127); }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
"#;
    // What it starts: loads the preload (the command keeps it in
    // `LD_PRELOAD`) and leaves through `exit`, where a profiled process
    // writes its profile.
    let started_src = r#"
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) void *in_started(size_t n) { return malloc(n); }
int main(void) {
    free(in_started(5555));
    const char *p = getenv("LD_PRELOAD");
    const char *o = getenv("HEAPWISE_PROFILE_AT_EXIT");
    printf("started ran; LD_PRELOAD=%s; output %s\n", p ? p : "(unset)", o ? o : "(unset)");
    return 0;
}
"#;
    let dir = TempDir::new("run-no-follow-exec");
    let command = cc(&dir, "command", command_src, &[]);
    let started = cc(&dir, "started", started_src, &[]);
    let o = heapwise_in(&dir)
        .env("LD_PRELOAD", "libm.so.6")
        .args(["run", "--full", "--no-follow", "-o", "p.%p.pb.gz", "--"])
        .args(["/bin/sh", "-c", "exec \"$0\" \"$1\""])
        .arg(&command)
        .arg(&started)
        .output()
        .expect("running heapwise run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("started ran; LD_PRELOAD=libm.so.6; output (unset)\n"),
        "{out}"
    );
    let files = profiles(&dir);
    assert_eq!(files.len(), 1, "the command's profile only: {files:?}");
    let bytes = flat(&files[0], "alloc_space");
    assert_eq!(bytes.get("in_command"), Some(&4444), "{bytes:?}");
    assert!(!bytes.contains_key("in_started"), "{bytes:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("from the program's child processes"), "{err}");
}

/// A C program that holds a 3 MiB block until its standard input closes,
/// saying `ready` once it holds it.
const HOLDS_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void *held_block(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
int main(void) {
    void *p = held_block(3 << 20);
    puts("ready");
    fflush(stdout);
    while (getchar() != EOF) {}
    free(p);
    return 0;
}
"#;

/// `GET /debug/pprof/heap` from `addr`, a real HTTP exchange over TCP; the
/// profile's flat `inuse_space` by function.
fn live_heap(dir: &TempDir, addr: &str) -> BTreeMap<String, i64> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "GET /debug/pprof/heap HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let profile = dir.join("live.pb.gz");
    std::fs::write(&profile, &response[head_end + 4..]).unwrap();
    flat(&profile, "inuse_space")
}

/// `heapwise run --full --http 127.0.0.1:0 -- CMD...` in `dir`, its
/// standard streams piped.
fn run_serving(dir: &TempDir, cmd: &[&std::ffi::OsStr]) -> std::process::Child {
    heapwise_in(dir)
        .args([
            "run",
            "--full",
            "--http",
            "127.0.0.1:0",
            "-o",
            "p.%p.pb.gz",
            "--",
        ])
        .args(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running heapwise run")
}

#[test]
fn http_serves_the_running_programs_heap_profile() {
    use std::io::{BufRead, BufReader, Read};
    let dir = TempDir::new("run-http");
    let exe = cc(&dir, "holds", HOLDS_C, &[]);
    let mut child = run_serving(&dir, &[exe.as_os_str()]);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = served_addr(&line)
        .unwrap_or_else(|| panic!("no serving line: {line:?}"))
        .to_string();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let live = live_heap(&dir, &addr);
    assert_eq!(live.get("held_block"), Some(&(3 << 20)), "{live:?}");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
}

/// A wrapper that execs the real program (as a pyenv shim or `env` does)
/// hands the endpoint on: the process `heapwise run` started serves in
/// whatever program it runs. (Before, the wrapper's server died with its
/// `exec` and the program, finding the variable emptied, served nothing:
/// connection refused.) With port 0 each image says where it serves; the
/// program's line is the last.
#[test]
fn http_follows_the_command_through_exec() {
    use std::io::{BufRead, BufReader, Read};
    let dir = TempDir::new("run-http-exec");
    let exe = cc(&dir, "holds", HOLDS_C, &[]);
    let sh: [&std::ffi::OsStr; 3] = ["/bin/sh".as_ref(), "-c".as_ref(), "exec \"$0\"".as_ref()];
    let mut child = run_serving(&dir, &[sh[0], sh[1], sh[2], exe.as_os_str()]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    // Both images said where they serve before the program's `main`.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let (send, receive) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for _ in 0..2 {
            let mut line = String::new();
            err.read_line(&mut line).unwrap();
            if send.send(line).is_err() {
                break;
            }
        }
        err
    });
    let mut lines = Vec::new();
    for _ in 0..2 {
        match receive.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the program does not serve: only {lines:?}");
            }
        }
    }
    let mut err = reader.join().unwrap();
    let pid = |l: &str| l.rsplit_once("(process ").map(|(_, p)| p.trim().to_owned());
    assert_eq!(
        pid(&lines[0]),
        pid(&lines[1]),
        "one process, two images: {lines:?}"
    );
    let addr = served_addr(&lines[1])
        .unwrap_or_else(|| panic!("no serving line: {lines:?}"))
        .to_string();
    let live = live_heap(&dir, &addr);
    assert_eq!(
        live.get("held_block"),
        Some(&(3 << 20)),
        "the program's heap: {live:?}"
    );
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
}

/// A C program that leaks, on a thread that exits: a chain of three
/// (direct head, indirect rest), a lone 100-byte block; and keeps one
/// block in a global.
const LEAKS_C: &str = r#"
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
struct node { struct node *next; char pad[40]; };
static struct node *kept;
/* Volatile: the compiler may not drop the allocations as unused. */
static void *volatile sink;
__attribute__((noinline)) void *leak_chain(void *arg) {
    struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    a->next = b; b->next = c; c->next = 0;
    sink = a;
    void *lone = malloc(100); memset(lone, 1, 100);
    sink = lone;
    kept = malloc(sizeof *kept); kept->next = 0;
    sink = 0;
    return arg;
}
int main(void) {
    pthread_t t; pthread_create(&t, 0, leak_chain, 0); pthread_join(t, 0);
    return kept ? 0 : 1; /* read: the global and its block stay */
}
"#;

#[test]
fn a_program_that_never_allocates_has_an_empty_heap() {
    let dir = TempDir::new("run-none");
    let exe = cc(&dir, "none", "int main(void) { return 3; }", &[]);
    let o = run_under(&dir, &["--snapshot-at-exit", "--leak-check"], &exe);
    let err = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    // It was told to start with HEAPWISE_SNAPSHOT=1 (as it had), and had
    // no snapshot; and an empty table.
    assert!(!err.contains("HEAPWISE_SNAPSHOT=1"), "{err}");
    assert!(
        err.contains(
            "\nheapwise: no allocation: the program made none through malloc and friends\n"
        ),
        "{err}"
    );
    assert!(err.contains(".heapsnapshot (0 live blocks;"), "{err}");
    assert!(
        err.contains("SUMMARY: heapwise: 0 byte(s) leaked in 0 allocation(s)."),
        "{err}"
    );
    assert!(!err.contains("Top sites"), "{err}");
}

#[test]
fn snapshot_at_exit_and_leak_check_find_a_c_programs_leaks() {
    let dir = TempDir::new("run-leaks");
    let exe = cc(&dir, "leaks", LEAKS_C, &["-pthread"]);
    let o = run_under(&dir, &["--snapshot-at-exit", "--leak-check"], &exe);
    let err = text(&o);
    assert_eq!(o.status.code(), Some(23), "{err}");
    // LeakSanitizer's report from the program, then the run's summary of
    // the saved snapshot: the same leaks.
    let lsan = &err[..err.find("SUMMARY").unwrap()];
    assert_eq!(
        heapwise_test_support::lsan_lost(lsan),
        (148, 2, 96, 2),
        "{err}"
    );
    let saved = &err[err
        .find("heapwise: heap snapshot at")
        .expect("the snapshot's report")..];
    assert_eq!(
        heapwise_test_support::lsan_lost(saved),
        (148, 2, 96, 2),
        "{err}"
    );
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "heapsnapshot"))
        .expect("a .heapsnapshot");
    let g = heapwise_heapgraph::HeapGraph::load_heapsnapshot(&file).unwrap();
    assert!(g.site_by_name("leak_chain").is_some());
    let o = run_under(&dir, &["--leak-check"], &exe);
    assert_eq!(o.status.code(), Some(23), "{}", text(&o));
}

/// A leak check that fails ends the process with `_exit`, from an exit
/// handler: the program's buffered output is flushed first, and the report
/// reaches standard error even if the program closed it in a handler of
/// its own (coreutils' `close_stdout` does: `sort` exited 23 unexplained).
#[test]
fn a_failed_leak_check_keeps_the_programs_output_and_its_report() {
    let dir = TempDir::new("run-leak-output");
    let src = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void *volatile sink;
static void close_both(void) { fclose(stdout); close(2); }
__attribute__((noinline)) void leak(void) { sink = malloc(77); sink = 0; }
int main(void) {
    atexit(close_both);
    leak();
    printf("buffered line\n"); /* a pipe: fully buffered until exit */
    return 0;
}
"#;
    let exe = cc(&dir, "leak_output", src, &[]);
    let o = run_under(&dir, &["--leak-check"], &exe);
    let err = text(&o);
    assert_eq!(o.status.code(), Some(23), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "buffered line\n",
        "{err}"
    );
    assert!(
        err.contains("Direct leak of 77 byte(s) in 1 object(s) allocated from:"),
        "{err}"
    );
    // Without the handler that closes them, the same.
    let src = src.replace("atexit(close_both);", "");
    let exe = cc(&dir, "leak_output_open", &src, &[]);
    let o = run_under(&dir, &["--leak-check"], &exe);
    assert_eq!(o.status.code(), Some(23), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "buffered line\n");
}

#[test]
#[ignore = "needs valgrind"]
fn the_leak_check_agrees_with_valgrind_on_a_c_program() {
    let dir = TempDir::new("run-leaks-valgrind");
    let exe = cc(&dir, "leaks", LEAKS_C, &["-pthread"]);
    let o = run_under(&dir, &["--leak-check"], &exe);
    let ours = heapwise_test_support::lsan_lost(&text(&o));
    let vg = Command::new(heapwise_test_support::tool(
        "valgrind",
        "--version",
        "valgrind",
    ))
    .args(["--leak-check=full"])
    .arg(&exe)
    .output()
    .expect("running valgrind");
    let report = String::from_utf8_lossy(&vg.stderr);
    assert_eq!(
        ours,
        heapwise_test_support::valgrind_lost(&report),
        "heapwise:\n{}\nvalgrind:\n{report}",
        text(&o)
    );
}
