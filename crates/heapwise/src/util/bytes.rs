//! Byte counts for people: the one formatter the stats line, the examples
//! and the `heapwise` CLI's demo share.

use std::fmt;

/// A byte count formatted for people: three significant digits in
/// 1024-based units, `13.0 MiB`, `512 KiB`, `1000 B`; the alternate form
/// `{:#}` drops the space (`13.0MiB`), as the stats line prints it.
///
/// ```
/// use heapwise::Bytes;
/// assert_eq!(Bytes::from(13 * heapwise::MIB).to_string(), "13.0 MiB");
/// assert_eq!(format!("{:#}", Bytes::from(1536)), "1.50KiB");
/// assert_eq!(Bytes::from(1000).to_string(), "1000 B");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Bytes(pub f64);

impl From<u64> for Bytes {
    fn from(bytes: u64) -> Bytes {
        Bytes(bytes as f64)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let sep = if f.alternate() { "" } else { " " };
        let mut v = self.0;
        let mut u = 0;
        while v >= 1024.0 && u + 1 < UNITS.len() {
            v /= 1024.0;
            u += 1;
        }
        if f.width().is_none() {
            return if u == 0 {
                write!(f, "{v:.0}{sep}B")
            } else {
                write!(f, "{}{sep}{}", Sig3(v), UNITS[u])
            };
        }
        // Width and alignment, as for a string (`{:>12}` in a table).
        let text = if u == 0 {
            format!("{v:.0}{sep}B")
        } else {
            format!("{}{sep}{}", Sig3(v), UNITS[u])
        };
        f.pad(&text)
    }
}

/// `v` to three significant digits (`v` < 10,000).
pub(crate) struct Sig3(pub(crate) f64);

impl fmt::Display for Sig3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v >= 100.0 {
            write!(f, "{v:.0}")
        } else if v >= 10.0 {
            write!(f, "{v:.1}")
        } else {
            write!(f, "{v:.2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_and_alignment_apply() {
        assert_eq!(format!("[{:>10}]", Bytes::from(2048u64)), "[  2.00 KiB]");
        assert_eq!(format!("[{:<6}]", Bytes::from(5u64)), "[5 B   ]");
    }

    #[test]
    fn units_and_digits() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.00 KiB"),
            (10 * 1024 + 512, "10.5 KiB"),
            (512 * 1024, "512 KiB"),
            (13 << 20, "13.0 MiB"),
            (3 << 30, "3.00 GiB"),
            (5 << 40, "5.00 TiB"),
            (2048 << 40, "2048 TiB"),
        ];
        for (n, want) in cases {
            assert_eq!(Bytes::from(n).to_string(), want);
        }
        assert_eq!(format!("{:#}", Bytes(13.0 * 1048576.0)), "13.0MiB");
        assert_eq!(format!("{:#}", Bytes(1000.0)), "1000B");
    }
}
