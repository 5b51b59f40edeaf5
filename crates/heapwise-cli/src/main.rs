//! The `heapwise` command; see the `heapwise_cli` crate docs for usage.

use std::process::ExitCode;

// The command runs under heapwise itself: `heapwise demo` profiles the
// built-in service, and every other subcommand pays only the counting.
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use clap::Parser;
use heapwise_cli::cli::{exit_status, run, Cli};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed stdout shows up as a BrokenPipe
    // write error, which exit_status treats as success.
    exit_status(run(Cli::parse()))
}
