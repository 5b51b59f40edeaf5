//! Printing values and percentages the way pprof does.
//!
//! Every figure in a report goes through this module so that heapwise's
//! tables read exactly like `go tool pprof`'s (google/pprof's
//! `internal/measurement` package and `report.selectOutputUnit`):
//!
//! - **Bytes** scale in steps of 1024 with the units `B`, `kB`, `MB`, `GB`,
//!   `TB` and `PB`; **time** scales through `ns`, `us`, `ms`, `s` and `hrs`.
//!   Any other unit (`count`, `objects`, ...) is printed as a plain number.
//! - A value is printed with two decimals and a trailing `.00` dropped:
//!   `512kB`, `1.50MB`, `2048.35kB`, `0`.
//! - A table uses **one unit for every row** ([`ValueFormat::for_table`]),
//!   chosen from its smallest nonzero entry: if that is over a hundred times
//!   smaller than the total, the unit is the one that prints it as at least
//!   `0.01`. This is why pprof shows `2048.35kB` rather than `2MB` next to a
//!   `87.88kB` row.
//! - Percentages ([`percentage`]) have two decimals from 1% up, `100%`
//!   within 0.05 of it, and two significant digits below 1% (`0.0038%`),
//!   right-aligned in five columns.
//!
//! This is pprof's format, kept apart from [`heapwise::Bytes`] (IEC units for
//! people, used by the demo's summary and the runtime's stats line) on
//! purpose: a report must read like `go tool pprof`'s, digit for digit.

/// One unit of a family: its printed name, the lowercase names (singular)
/// it is recognised by, and its size in the family's base unit.
struct Unit {
    name: &'static str,
    aliases: &'static [&'static str],
    factor: f64,
}

/// A family of units that convert into each other.
struct UnitFamily {
    units: &'static [Unit],
    /// The unit used when a value is too small for any unit of the family.
    default: (&'static str, f64),
}

const KIB: f64 = 1024.0;

static FAMILIES: [UnitFamily; 2] = [
    UnitFamily {
        units: &[
            Unit {
                name: "B",
                aliases: &["b", "byte"],
                factor: 1.0,
            },
            Unit {
                name: "kB",
                aliases: &["kb", "kbyte", "kilobyte"],
                factor: KIB,
            },
            Unit {
                name: "MB",
                aliases: &["mb", "mbyte", "megabyte"],
                factor: KIB * KIB,
            },
            Unit {
                name: "GB",
                aliases: &["gb", "gbyte", "gigabyte"],
                factor: KIB * KIB * KIB,
            },
            Unit {
                name: "TB",
                aliases: &["tb", "tbyte", "terabyte"],
                factor: KIB * KIB * KIB * KIB,
            },
            Unit {
                name: "PB",
                aliases: &["pb", "pbyte", "petabyte"],
                factor: KIB * KIB * KIB * KIB * KIB,
            },
        ],
        default: ("B", 1.0),
    },
    UnitFamily {
        units: &[
            Unit {
                name: "ns",
                aliases: &["ns", "nanosecond"],
                factor: 1.0,
            },
            Unit {
                name: "us",
                aliases: &["μs", "us", "microsecond"],
                factor: 1e3,
            },
            Unit {
                name: "ms",
                aliases: &["ms", "millisecond"],
                factor: 1e6,
            },
            Unit {
                name: "s",
                aliases: &["s", "sec", "second"],
                factor: 1e9,
            },
            Unit {
                name: "hrs",
                aliases: &["hour", "hr"],
                factor: 3600e9,
            },
        ],
        default: ("s", 1e9),
    },
];

impl UnitFamily {
    /// The unit called `name` (case-insensitive, a plural `s` ignored on
    /// names longer than two letters), if it belongs to this family.
    fn find(&self, name: &str) -> Option<&Unit> {
        let lower = name.to_lowercase();
        let key = if lower.chars().count() > 2 {
            lower.strip_suffix('s').unwrap_or(&lower)
        } else {
            &lower
        };
        self.units.iter().find(|u| u.aliases.contains(&key))
    }

    /// The largest unit in which `base` (in base units) is at least 1.
    fn auto_scale(&self, base: f64) -> Option<(f64, &'static str)> {
        self.units
            .iter()
            .filter(|u| base / u.factor >= 1.0)
            .max_by(|a, b| a.factor.total_cmp(&b.factor))
            .map(|u| (base / u.factor, u.name))
    }

    /// `value` in `from` units converted to `to` (`"auto"` or
    /// `"minimum"` picks the unit), or `None` if `from` is not in this
    /// family.
    fn convert(&self, value: i64, from: &str, to: &str) -> Option<(f64, &'static str)> {
        let from = self.find(from)?;
        let base = value as f64 * from.factor;
        let (default_name, default_factor) = self.default;
        if to == "minimum" || to == "auto" {
            return Some(
                self.auto_scale(base)
                    .unwrap_or((base / default_factor, default_name)),
            );
        }
        Some(match self.find(to) {
            Some(u) => (base / u.factor, u.name),
            None => (base / default_factor, default_name),
        })
    }
}

/// Converts `value`, measured in `from_unit`, to `to_unit` (`"auto"` picks
/// the unit that keeps the number at least 1). Returns the number and the
/// unit to print after it, which is empty for plain counts.
///
/// ```
/// use heapwise_cli::units::scale;
///
/// assert_eq!(scale(1536, "bytes", "auto"), (1.5, "kB".to_owned()));
/// assert_eq!(scale(3 << 20, "bytes", "kB"), (3072.0, "kB".to_owned()));
/// assert_eq!(scale(42, "count", "auto"), (42.0, String::new()));
/// ```
pub fn scale(value: i64, from_unit: &str, to_unit: &str) -> (f64, String) {
    if value < 0 && value != i64::MIN {
        let (v, u) = scale(-value, from_unit, to_unit);
        return (-v, u);
    }
    for family in &FAMILIES {
        if let Some((v, u)) = family.convert(value, from_unit, to_unit) {
            return (v, u.to_owned());
        }
    }
    match to_unit {
        "count" | "sample" | "unit" | "minimum" | "auto" => (value as f64, String::new()),
        other => (value as f64, other.to_owned()),
    }
}

/// `value` (in `from_unit`) as pprof prints it in `to_unit`: two decimals,
/// a trailing `.00` dropped, then the unit; zero is always `0`.
///
/// ```
/// use heapwise_cli::units::scaled_label;
///
/// assert_eq!(scaled_label(512 << 10, "bytes", "auto"), "512kB");
/// assert_eq!(scaled_label(1536 << 10, "bytes", "auto"), "1.50MB");
/// assert_eq!(scaled_label(96, "bytes", "kB"), "0.09kB");
/// assert_eq!(scaled_label(0, "bytes", "MB"), "0");
/// assert_eq!(scaled_label(500, "count", "count"), "500");
/// ```
pub fn scaled_label(value: i64, from_unit: &str, to_unit: &str) -> String {
    let (v, unit) = scale(value, from_unit, to_unit);
    let fixed = format!("{v:.2}");
    let number = fixed.strip_suffix(".00").unwrap_or(&fixed);
    if number == "0" || number == "-0" {
        return "0".to_owned();
    }
    format!("{number}{unit}")
}

/// `value` as a percentage of `total`, as pprof prints it: `" 3.57%"`,
/// `"  100%"`, `"0.0038%"`, `"    0%"` (at least five characters before
/// the `%`, right-aligned). The sign is dropped, as in pprof.
///
/// ```
/// use heapwise_cli::units::percentage;
///
/// assert_eq!(percentage(1, 4), "25.00%");
/// assert_eq!(percentage(-5, 100), " 5.00%");
/// assert_eq!(percentage(10, 10), "  100%");
/// assert_eq!(percentage(96, 2_519_367), "0.0038%");
/// assert_eq!(percentage(1, 200), "  0.5%");
/// assert_eq!(percentage(0, 10), "    0%");
/// ```
pub fn percentage(value: i64, total: i64) -> String {
    let ratio = if total == 0 {
        0.0
    } else {
        (value as f64 / total as f64).abs() * 100.0
    };
    if (99.95..=100.05).contains(&ratio) {
        "  100%".to_owned()
    } else if ratio >= 1.0 {
        format!("{ratio:5.2}%")
    } else {
        format!("{:>5}%", two_significant_digits(ratio))
    }
}

/// A non-negative `x` formatted like Go's `%.2g`: two significant digits,
/// trailing zeros dropped, exponent form (`1.2e-05`) below 0.0001.
fn two_significant_digits(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    // Rust's `{:e}` rounds exactly, half to even, as Go's strconv does.
    let sci = format!("{x:.1e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // Go's strconv rules for 'g' with precision 2.
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = 2;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if exp < -4 || exp >= eprec {
        // Exponent form: d[.d]e±XX.
        let (first, rest) = digits.split_at(1);
        let sign = if exp < 0 { '-' } else { '+' };
        let dot = if rest.is_empty() { "" } else { "." };
        return format!("{first}{dot}{rest}e{sign}{:02}", exp.unsigned_abs());
    }
    let prec = if 2 > dp { nd } else { 2 };
    let decimals = usize::try_from(prec - dp).unwrap_or(0);
    format!("{x:.decimals$}")
}

/// How one report prints its values: the profile's unit and the unit
/// chosen for output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFormat {
    sample_unit: String,
    output_unit: String,
}

impl ValueFormat {
    /// Each value in the unit that suits it best (pprof's `auto`).
    pub fn auto(sample_unit: &str) -> Self {
        ValueFormat {
            sample_unit: sample_unit.to_owned(),
            output_unit: "auto".to_owned(),
        }
    }

    /// One unit for a whole table, chosen as pprof's
    /// `report.selectOutputUnit` does: from the smallest nonzero magnitude
    /// among `entries` (each a row's flat value, or its cum if flat is
    /// zero) and the report's `total`.
    pub fn for_table(
        sample_unit: &str,
        entries: impl IntoIterator<Item = i64>,
        total: i64,
    ) -> Self {
        let mut min_value = entries
            .into_iter()
            .map(i64::saturating_abs)
            .filter(|&v| v > 0)
            .min()
            .unwrap_or(0);
        let max_value = total;
        if min_value == 0 {
            min_value = max_value;
        }
        let (_, min_unit) = scale(min_value, sample_unit, "minimum");
        let (_, max_unit) = scale(max_value, sample_unit, "minimum");
        let mut unit = min_unit;
        if unit != max_unit && min_value.saturating_mul(100) < max_value {
            unit = scale(min_value.saturating_mul(100), sample_unit, "minimum").1;
        }
        let output_unit = if unit.is_empty() {
            sample_unit.to_owned()
        } else {
            unit
        };
        ValueFormat {
            sample_unit: sample_unit.to_owned(),
            output_unit,
        }
    }

    /// `value` in this format, e.g. `2048.35kB` or `500`.
    pub fn format(&self, value: i64) -> String {
        scaled_label(value, &self.sample_unit, &self.output_unit)
    }

    /// [`ValueFormat::format`] with a leading `+` on positive values.
    pub fn format_signed(&self, value: i64) -> String {
        let s = self.format(value);
        if value > 0 && s != "0" {
            format!("+{s}")
        } else {
            s
        }
    }
}

/// `n` and `word`, plural unless `n` is 1: `1 block`, `2 blocks`; every
/// count the reports put in words goes through it.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `n` with its digits in groups of three: `300,410`.
pub(crate) fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::from(if n < 0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` grouped, then `what`, plural unless `n` is one.
pub(crate) fn plural_grouped(n: i64, what: &str) -> String {
    format!("{} {what}{}", grouped(n), if n == 1 { "" } else { "s" })
}

/// `bytes` in binary units with one decimal: `4.0 KiB`, `1.9 GiB`.
pub(crate) fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `bytes` as `--rate` takes it: `512 KiB`, `3 MiB`, `1000 bytes`.
pub(crate) fn binary_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_format() {
        assert_eq!(two_significant_digits(0.5), "0.5");
        assert_eq!(two_significant_digits(0.1), "0.1");
        assert_eq!(two_significant_digits(0.0038), "0.0038");
        assert_eq!(two_significant_digits(0.00381), "0.0038");
        assert_eq!(two_significant_digits(0.0001), "0.0001");
        assert_eq!(two_significant_digits(0.00001234), "1.2e-05");
        assert_eq!(two_significant_digits(0.00001), "1e-05");
        assert_eq!(two_significant_digits(0.996), "1");
        assert_eq!(two_significant_digits(0.95), "0.95");
        assert_eq!(two_significant_digits(0.12), "0.12");
    }

    #[test]
    fn units() {
        assert_eq!(scaled_label(1023, "bytes", "auto"), "1023B");
        assert_eq!(scaled_label(1024, "bytes", "auto"), "1kB");
        assert_eq!(scaled_label(-1536, "bytes", "auto"), "-1.50kB");
        assert_eq!(scaled_label(5 << 30, "bytes", "auto"), "5GB");
        assert_eq!(scaled_label(1_500_000, "nanoseconds", "auto"), "1.50ms");
        assert_eq!(scaled_label(7, "widgets", "widgets"), "7widgets");
        assert_eq!(scaled_label(7, "objects", "auto"), "7");
    }

    #[test]
    fn table_unit_follows_pprof() {
        // The Go heap example: smallest flat 96 B, total ~2.4 MB.
        let f = ValueFormat::for_table("bytes", [2_097_510, 96, 0], 2_519_367);
        assert_eq!(f.format(2_097_510), "2048.35kB");
        assert_eq!(f.format(96), "0.09kB");
        let f = ValueFormat::for_table("count", [3, 1], 4);
        assert_eq!(f.format(3), "3");
    }
}
