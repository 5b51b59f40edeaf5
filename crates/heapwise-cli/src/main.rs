//! The `heapwise` command; see the `heapwise_cli` crate docs for usage.

use std::process::ExitCode;

// The command runs under heapwise itself: `heapwise demo` profiles the
// built-in service (it sets its rate), and every other subcommand pays only
// the counting.
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use clap::Parser;
use heapwise_cli::cli::{exit_status, run, Cli};

fn main() -> ExitCode {
    // No samples of its own unless asked for (`HEAPWISE_PROFILE_RATE`, as
    // under `heapwise run`): one taken while parsing the arguments built
    // the unwind tables of the command itself, ~0.3 ms of each run.
    if std::env::var_os("HEAPWISE_PROFILE_RATE").is_none() {
        heapwise::profile::set_rate(0);
    }
    // Rust ignores SIGPIPE, so a closed stdout shows up as a BrokenPipe
    // write error, which exit_status treats as success.
    exit_status(run(Cli::parse()))
}
