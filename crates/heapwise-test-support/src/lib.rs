//! The external tools heapwise's interop tests run, found in one place with
//! one policy.
//!
//! A test that needs a tool is `#[ignore = "needs …"]`, so a plain
//! `cargo test` lists it as ignored instead of reporting a check it did not
//! make. Run with `--include-ignored` (as `.ci/run` does, after installing
//! the tools), such a test **fails** when its tool is missing, with a
//! one-line message naming the tool and how to get it. Nothing here skips.
//!
//! | tool | ignore reason | how `.ci/run` gets it |
//! |---|---|---|
//! | [`go_tool_pprof`] | `needs go tool pprof` | Debian `golang-go` |
//! | [`chromium`] | `needs headless chromium` | Debian `chromium` |
//! | [`prometheus`] | `needs prometheus` | Debian `prometheus` |
//! | [`heaptrack`] | `needs heaptrack` | Debian `heaptrack` |
//! | [`sqlite3`] | `needs … sqlite3` | Debian `sqlite3` |
//! | [`debian_python3`] | `needs … Debian's python3` | Debian `python3` (`/usr/bin/python3`, not one earlier on `PATH`) |
//! | [`tool`] (`xz`, `gzip`, `g++`) | `needs … xz` and so on | Debian `xz-utils`, `gzip`, `g++` |
//! | [`perfetto_python`] | `needs perfetto's python protos` | `pip install perfetto protobuf` in the venv `~/.cache/heapwise-perfetto-venv` (or one named by `HEAPWISE_PYTHON`) |
//! | [`memlab`] | `needs memlab` | `npm install memlab` in `~/.cache/heapwise/memlab` (or the folder named by `HEAPWISE_MEMLAB`), Node.js from Debian's `nodejs` |

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `go` with this project's environment: the local toolchain only, no
/// module proxy. Panics, naming the package, if `go` does not run.
pub fn go() -> Command {
    // Checked once per test process, not before every command.
    static FOUND: OnceLock<()> = OnceLock::new();
    FOUND.get_or_init(|| {
        let mut probe = Command::new("go");
        probe.arg("version").env("GOTOOLCHAIN", "local");
        require(
            "go",
            &mut probe,
            "install Debian's golang-go (apt-get install golang-go)",
        );
    });
    let mut cmd = Command::new("go");
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod");
    cmd
}

/// `go tool pprof`, as [`go`].
pub fn go_tool_pprof() -> Command {
    let mut cmd = go();
    cmd.args(["tool", "pprof"]);
    cmd
}

/// The headless Chromium binary (`chromium` or `chromium-browser`). Panics,
/// naming the package, if neither runs.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|bin| runs(Command::new(bin).arg("--version")))
        .unwrap_or_else(|| {
            panic!("needs headless chromium: install Debian's chromium (apt-get install chromium)")
        })
}

/// Loads `page` (a local file) with `query` in headless [`chromium`], lets
/// its timers run for `virtual_ms` of virtual time, and returns the DOM
/// after its scripts ran. Panics if Chromium fails, takes over 90 s, or the
/// DOM holds no `<svg`.
pub fn chromium_dom(page: &Path, query: &str, profile_dir: &Path, virtual_ms: u32) -> String {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let url = format!("file://{}{query}", page.display());
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--virtual-time-budget={virtual_ms}"))
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("waiting for chromium").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish loading {url} in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("chromium output");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("<svg"),
        "chromium failed on {url} ({}):\n{dom}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Runs `script` (heapwise-heapgraph's `tests/memlab_retained.js`) under
/// [`memlab`] on the `.heapsnapshot` `file`: memlab's view of each node, by
/// id (a block's sequence number), as (retained size, self size, name);
/// and the script's output, for messages.
pub fn memlab_retained(
    script: &Path,
    file: &Path,
) -> (std::collections::HashMap<u64, (u64, u64, String)>, String) {
    let out = memlab().arg(script).arg(file).output().expect("node runs");
    expect_success(&out, "memlab_retained.js");
    let text = String::from_utf8(out.stdout).expect("UTF-8 from the script");
    let nodes = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            let mut num = || f.next().unwrap().parse::<u64>().unwrap();
            let (id, retained, size) = (num(), num(), num());
            (id, (retained, size, f.next().unwrap_or("").to_owned()))
        })
        .collect();
    (nodes, text)
}

/// Leaked (direct bytes, direct blocks, indirect bytes, indirect blocks).
pub type Lost = (u64, u64, u64, u64);

/// A figure of a leak report (`1,052` as valgrind groups digits).
fn leak_number(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// From LeakSanitizer's format (heapwise's leak check writes it): the sums
/// of the "Direct leak of B byte(s) in N object(s)" lines, and of the
/// "Indirect leak of" ones.
pub fn lsan_lost(report: &str) -> Lost {
    let mut lost = (0, 0, 0, 0);
    for line in report.lines() {
        let (direct, rest) = if let Some(r) = line.strip_prefix("Direct leak of ") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("Indirect leak of ") {
            (false, r)
        } else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let (bytes, blocks) = (leak_number(w[0]), leak_number(w[3]));
        if direct {
            (lost.0, lost.1) = (lost.0 + bytes, lost.1 + blocks);
        } else {
            (lost.2, lost.3) = (lost.2 + bytes, lost.3 + blocks);
        }
    }
    lost
}

/// From valgrind memcheck's LEAK SUMMARY: "definitely lost: B bytes in N
/// blocks" and "indirectly lost: …". Panics, with the report, if they are
/// missing.
pub fn valgrind_lost(report: &str) -> Lost {
    let figures = |what: &str| {
        let line = report
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in valgrind's output:\n{report}"));
        let w: Vec<&str> = line[line.find(what).unwrap() + what.len()..]
            .split_whitespace()
            .collect();
        (leak_number(w[0]), leak_number(w[3]))
    };
    let (db, dn) = figures("definitely lost:");
    let (ib, in_) = figures("indirectly lost:");
    (db, dn, ib, in_)
}

/// The Prometheus server binary (`prometheus`, or `/usr/bin/prometheus`).
/// Panics, naming the package, if it does not run.
pub fn prometheus() -> &'static str {
    ["prometheus", "/usr/bin/prometheus"]
        .into_iter()
        .find(|bin| runs(Command::new(bin).arg("--version")))
        .unwrap_or_else(|| {
            panic!("needs prometheus: install Debian's prometheus (apt-get install prometheus)")
        })
}

/// `heaptrack`, KDE's heap profiler (Debian's `heaptrack` package, whose
/// `heaptrack` script runs a program under `libheaptrack_preload.so` and
/// symbolizes the recording with `heaptrack_interpret`). Panics, naming the
/// package, if it does not run.
pub fn heaptrack() -> Command {
    static FOUND: OnceLock<()> = OnceLock::new();
    FOUND.get_or_init(|| {
        require(
            "heaptrack",
            Command::new("heaptrack").arg("--version"),
            "install Debian's heaptrack (apt-get install heaptrack)",
        );
    });
    Command::new("heaptrack")
}

/// Debian's `sqlite3` shell, a program nobody here wrote, for `heapwise
/// run`'s comparisons: its name, to be found on `PATH`. Panics, naming the
/// package, if it does not run.
pub fn sqlite3() -> PathBuf {
    require(
        "sqlite3",
        Command::new("sqlite3").arg("-version"),
        "install Debian's sqlite3 (apt-get install sqlite3)",
    );
    PathBuf::from("sqlite3")
}

/// Debian's own `python3`, `/usr/bin/python3` (a `python3` earlier on
/// `PATH`, pyenv's shim say, is often a script or a build of its own), for
/// `heapwise run`'s comparisons. Panics, naming the package, if it does
/// not run.
pub fn debian_python3() -> PathBuf {
    let python = PathBuf::from("/usr/bin/python3");
    require(
        "Debian's python3",
        Command::new(&python).arg("--version"),
        "install Debian's python3 (apt-get install python3)",
    );
    python
}

/// The program `name` on `PATH`, checked by running it with `probe_arg`.
/// Panics, naming the Debian `package`, if it does not run.
pub fn tool(name: &str, probe_arg: &str, package: &str) -> PathBuf {
    require(
        name,
        Command::new(name).arg(probe_arg),
        &format!("install Debian's {package} (apt-get install {package})"),
    );
    PathBuf::from(name)
}

/// Runs `program` with `args` and the environment `envs` under
/// [`heaptrack`], its data file written into `dir` (which must hold no
/// other heaptrack data), and returns that file's path
/// (`dir/heaptrack.PID.zst`, or `.gz` for a heaptrack built without zstd).
/// Panics with heaptrack's output if it fails.
pub fn run_heaptrack(program: &Path, args: &[&str], envs: &[(&str, &str)], dir: &Path) -> PathBuf {
    let mut cmd = heaptrack();
    // heaptrack adds the extension; %p becomes the program's pid.
    cmd.arg("-o")
        .arg(dir.join("heaptrack.%p"))
        .arg(program)
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run heaptrack: {e}"));
    expect_success(&out, &format!("heaptrack {}", program.display()));
    heaptrack_file(dir).unwrap_or_else(|| {
        panic!(
            "heaptrack wrote no data file into {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The heaptrack data file in `dir` (`heaptrack.*`), if there is one.
pub fn heaptrack_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.starts_with("heaptrack."))
        })
}

/// The Python that has Perfetto's protos: `HEAPWISE_PYTHON`, else the venv
/// `.ci/run` installs them into (`~/.cache/heapwise-perfetto-venv`) if it
/// imports them, else `python3`. Panics, saying how to get them, if it
/// cannot import them.
pub fn perfetto_python() -> String {
    static FOUND: OnceLock<String> = OnceLock::new();
    FOUND.get_or_init(find_perfetto_python).clone()
}

fn find_perfetto_python() -> String {
    let import = "import perfetto.protos.perfetto.trace.perfetto_trace_pb2";
    let imports = |python: &str| runs(Command::new(python).args(["-c", import]));
    let venv = || {
        let home = std::env::var("HOME").ok()?;
        Some(format!("{home}/{VENV_PYTHON}")).filter(|venv| imports(venv))
    };
    if let Some(venv) = std::env::var("HEAPWISE_PYTHON")
        .is_err()
        .then(venv)
        .flatten()
    {
        return venv;
    }
    let python = std::env::var("HEAPWISE_PYTHON").unwrap_or_else(|_| "python3".into());
    if !imports(&python) {
        panic!(
            "needs perfetto's python protos: {python} cannot import them; \
             `pip install perfetto protobuf` (in a venv) and set HEAPWISE_PYTHON to its python"
        );
    }
    python
}

/// The venv `.ci/run` installs Perfetto's protos into, under `$HOME`.
const VENV_PYTHON: &str = ".cache/heapwise-perfetto-venv/bin/python";

/// Runs the Perfetto checker `script` (a Python file) on `trace` with
/// [`perfetto_python`], and returns its standard output; panics with its
/// standard error if it fails.
pub fn perfetto_check(script: &Path, trace: &Path) -> String {
    let python = perfetto_python();
    let out = Command::new(&python)
        .arg(script)
        .arg(trace)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    expect_success(&out, &format!("{} {}", script.display(), trace.display()));
    String::from_utf8(out.stdout).expect("the checker prints UTF-8")
}

/// Panics with the command's output unless it succeeded.
pub fn expect_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `node` with memlab's packages on its module path (`NODE_PATH`): the
/// `node_modules` of `HEAPWISE_MEMLAB`, else of `~/.cache/heapwise/memlab`,
/// where `.ci/run` installs memlab. Panics, saying how to get it, if node
/// cannot load `@memlab/heap-analysis` from there.
pub fn memlab() -> Command {
    static FOUND: OnceLock<String> = OnceLock::new();
    let modules = FOUND.get_or_init(|| {
        let dir = std::env::var("HEAPWISE_MEMLAB").unwrap_or_else(|_| {
            format!(
                "{}/.cache/heapwise/memlab",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let modules = format!("{dir}/node_modules");
        let mut probe = Command::new("node");
        probe
            .args(["-e", "require('@memlab/heap-analysis')"])
            .env("NODE_PATH", &modules);
        require(
            "memlab",
            &mut probe,
            &format!(
                "node cannot load @memlab/heap-analysis from {modules}; \
                 `cd {dir} && PUPPETEER_SKIP_DOWNLOAD=1 npm install memlab` (and Debian's nodejs)"
            ),
        );
        modules
    });
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", modules);
    cmd
}

fn runs(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

fn require(tool: &str, probe: &mut Command, how: &str) {
    assert!(runs(probe), "needs {tool}, which does not run here: {how}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "needs no-such-tool-heapwise")]
    fn a_missing_tool_fails_naming_it() {
        require(
            "no-such-tool-heapwise",
            &mut Command::new("no-such-tool-heapwise"),
            "nowhere",
        );
    }
}
