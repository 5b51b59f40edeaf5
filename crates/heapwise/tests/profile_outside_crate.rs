//! A crate outside this workspace, built with a plain `cargo build
//! --release` (no `-C force-frame-pointers=yes`, none of this workspace's
//! `.cargo/config.toml`), gets heap profiles whose stacks name its own
//! functions: the CFI unwinder's reason to be. With `HEAPWISE_UNWIND=fp`
//! the same binary's stacks miss them and the profile says its stacks were
//! cut short, which shows the build really has no frame pointers.
//!
//! The crate is written to a temporary directory (outside the workspace,
//! so cargo finds no configuration of ours) and built into
//! `target/outside-crate`, which later runs reuse. `go tool pprof`'s view
//! of the same profile is checked by an ignored test (needs go).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use heapwise::pprof::Profile;

const MAIN: &str = r#"
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

#[inline(never)]
fn outside_parse_records(n: usize) -> Vec<Vec<u64>> {
    let v: Vec<Vec<u64>> = (0..n).map(|i| vec![i as u64; 512]).collect();
    std::hint::black_box(&v);
    v
}

#[inline(never)]
fn outside_render_lines(n: usize) -> Vec<String> {
    let v: Vec<String> = (0..n).map(|i| format!("{i:>400}")).collect();
    std::hint::black_box(&v);
    v
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: outside PROFILE");
    heapwise::profile::set_rate(4096);
    let records = outside_parse_records(4000);
    let lines = std::thread::spawn(|| outside_render_lines(8000)).join().unwrap();
    heapwise::profile::write_heap(&path).expect("writing the profile");
    std::hint::black_box((&records, &lines));
}
"#;

/// The workspace's target directory (where `cargo test` builds).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

/// The crate's binary, built once per test process.
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build)
}

/// Writes the crate and builds it; returns the binary.
fn build() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapwise-outside-crate-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"outside\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nheapwise = {{ path = {:?} }}\n\n[workspace]\n",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    // The workspace's versions of the dependencies: nothing new to fetch.
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    std::fs::copy(lock, dir.join("Cargo.lock")).unwrap();

    let target = target_dir().join("outside-crate");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target);
    // Flags of this build's environment must not reach that one.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.ends_with("RUSTFLAGS")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
        {
            cmd.env_remove(&*key);
        }
    }
    let out = cmd.output().expect("running cargo");
    assert!(
        out.status.success(),
        "cargo build --release of the outside crate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    target.join("release/outside")
}

/// Runs the binary with `HEAPWISE_UNWIND` set to `unwind` (or unset) and
/// returns its heap profile, raw and decoded.
fn run(bin: &Path, unwind: Option<&str>, name: &str) -> (PathBuf, Profile) {
    let path = std::env::temp_dir().join(format!(
        "heapwise-outside-{}-{name}.pb.gz",
        std::process::id(),
    ));
    let mut cmd = Command::new(bin);
    cmd.arg(&path).env_remove("HEAPWISE_UNWIND");
    if let Some(u) = unwind {
        cmd.env("HEAPWISE_UNWIND", u);
    }
    let out = cmd.output().expect("running the outside crate");
    assert!(
        out.status.success(),
        "the outside crate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = Profile::decode(&std::fs::read(&path).unwrap()).expect("a valid profile");
    (path, profile)
}

/// In-use bytes of the samples whose stack holds a function named `name`
/// (`None`: all samples).
fn inuse(p: &Profile, name: Option<&str>) -> i64 {
    p.sample
        .iter()
        .filter(|s| name.is_none_or(|n| p.stack_function_names(s).contains(&n)))
        .map(|s| s.value[3])
        .sum()
}

fn comments(p: &Profile) -> Vec<&str> {
    p.comment.iter().map(|&c| p.string(c)).collect()
}

#[test]
fn a_plain_release_build_gets_its_own_functions_in_its_profile() {
    let bin = binary();
    let (path, p) = run(bin, None, "auto");
    let total = inuse(&p, None);
    let records = inuse(&p, Some("outside::outside_parse_records"));
    let lines = inuse(&p, Some("outside::outside_render_lines"));
    let names: Vec<Vec<&str>> = p.sample.iter().map(|s| p.stack_function_names(s)).collect();
    // 4000 × 4 KiB on the main thread, 8000 × 400 bytes on another.
    assert!(
        records > 12 << 20 && lines > 2 << 20 && records + lines > total * 9 / 10,
        "own functions hold {records} + {lines} of {total} in-use bytes; stacks: {names:#?}"
    );
    assert!(
        names.iter().any(|n| n.contains(&"outside::main")),
        "{names:#?}"
    );
    assert!(
        comments(&p).iter().all(|c| !c.contains("cut short")),
        "{:?}",
        comments(&p)
    );

    let _ = std::fs::remove_file(path);

    // Frame pointers only: this build has none, so the stacks stop before
    // the program's frames, and the profile says so.
    let (path, p) = run(bin, Some("fp"), "fp");
    let own = inuse(&p, Some("outside::outside_parse_records"));
    assert!(
        own < records / 10,
        "{own} with frame pointers only: is this build without them?"
    );
    let names: Vec<Vec<&str>> = p.sample.iter().map(|s| p.stack_function_names(s)).collect();
    assert!(
        comments(&p)
            .iter()
            .any(|c| c.contains("every stack in this profile was cut short")),
        "{:?} {names:#?}",
        comments(&p)
    );
    let _ = std::fs::remove_file(path);
}

#[test]
#[ignore = "needs go tool pprof"]
fn go_tool_pprof_shows_its_own_function_on_top() {
    let (path, _) = run(binary(), None, "go");
    let out = common::go::pprof_command()
        .args(["-top", "-unit=B", "-sample_index=inuse_space"])
        .arg(&path)
        .output()
        .expect("running go tool pprof");
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{top}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first row below the header has the largest flat value.
    let first = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .nth(1)
        .and_then(|l| l.split_whitespace().last());
    assert_eq!(first, Some("outside::outside_parse_records"), "{top}");
    let flat = common::go::flat(&top, "outside::outside_parse_records");
    assert!(flat.is_some_and(|b| b > 12 << 20), "{top}");
    let _ = std::fs::remove_file(path);
}
