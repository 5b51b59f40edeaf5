//! Where the command's output goes: standard output, whose write errors
//! say so (`writing to stdout: No space left on device (os error 28)`),
//! and the flame graph's default file, which is not overwritten unless
//! heapwise drew it.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::flame::{is_heapwise_svg, SVG_MARKER_WITHIN};
use crate::input::describe_io;

/// Standard output whose errors name it. A closed pipe keeps its kind
/// ([`io::ErrorKind::BrokenPipe`]), which is a success.
#[derive(Debug)]
pub(crate) struct Stdout(io::StdoutLock<'static>);

/// `e` prefixed with `writing to stdout: `, of the same kind.
fn named(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("writing to stdout: {e}"))
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(named)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(named)
    }
}

/// Standard output, buffered, for one report; flush it with [`finish`].
pub(crate) fn stdout() -> BufWriter<Stdout> {
    BufWriter::new(Stdout(io::stdout().lock()))
}

/// Flushes `out`, reporting what the buffer could not write.
pub(crate) fn finish(mut out: impl Write) -> Result<()> {
    out.flush()?;
    Ok(())
}

/// Fails unless `path` is free to be overwritten with a flame graph: it
/// does not exist, or it is an SVG heapwise drew.
pub(crate) fn check_overwrite(path: &Path) -> Result<()> {
    let name = path.display();
    let mut head = Vec::with_capacity(SVG_MARKER_WITHIN);
    let read =
        File::open(path).and_then(|f| f.take(SVG_MARKER_WITHIN as u64).read_to_end(&mut head));
    match read {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!("{name}: cannot read: {}", describe_io(&e))),
        Ok(_) if is_heapwise_svg(&head) => Ok(()),
        Ok(_) => bail!(
            "{name} exists and is not a heapwise flame graph; not overwriting it (choose the output with -o)"
        ),
    }
}

/// Writes `bytes` to `path`, unless `path` is one of the `inputs` the
/// output was made from (`flame in.pb.gz -o in.pb.gz` replaced the profile
/// with its graph).
pub(crate) fn write_file(path: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(out) = std::fs::metadata(path) {
        let same = |input: &Path| {
            std::fs::metadata(input).is_ok_and(|i| (i.dev(), i.ino()) == (out.dev(), out.ino()))
        };
        if let Some(input) = inputs.iter().find(|input| same(input)) {
            bail!(
                "-o {}: that is the input {}; not overwriting it",
                path.display(),
                input.display()
            );
        }
    }
    std::fs::write(path, bytes)
        .map_err(|e| anyhow!("{}: cannot write: {}", path.display(), describe_io(&e)))
}
