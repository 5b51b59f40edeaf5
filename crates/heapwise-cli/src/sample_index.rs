//! Choosing which value of each sample a report adds up.
//!
//! A heap profile carries several values per sample (Go's `alloc_objects`,
//! `alloc_space`, `inuse_objects`, `inuse_space`; heapwise's add
//! `peak_*` and `temporary_*`); a report shows one of them (`--peak` and
//! `--temporary` are shorthands). `--sample-index` takes a sample type's name or its position
//! (from 0). Without it the profile's `default_sample_type` is used if it
//! names one of its types, else the **last** type, which is pprof's rule
//! (for a Go heap profile: `inuse_space`).

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};
use heapwise_pprof::Profile;

/// Which sample value to report: `--sample-index`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SampleIndex {
    /// The profile's default sample type, else its last.
    #[default]
    Default,
    /// The sample type with this name, e.g. `alloc_space`.
    Name(String),
    /// The sample type at this position, from 0.
    Position(usize),
}

impl FromStr for SampleIndex {
    type Err = std::convert::Infallible;

    /// A number is a position, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => SampleIndex::Position(i),
            Err(_) => SampleIndex::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for SampleIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleIndex::Default => f.write_str("default"),
            SampleIndex::Name(n) => f.write_str(n),
            SampleIndex::Position(i) => write!(f, "{i}"),
        }
    }
}

/// A resolved sample type: its position, name and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleType {
    /// Position in each sample's values.
    pub index: usize,
    /// Name, e.g. `alloc_space`.
    pub name: String,
    /// Unit, e.g. `bytes`.
    pub unit: String,
}

impl SampleIndex {
    /// The sample type of `profile` this selects, or an error listing the
    /// types the profile has.
    pub fn resolve(&self, profile: &Profile) -> Result<SampleType> {
        let types = profile.sample_types();
        if types.is_empty() {
            bail!("the profile has no sample types");
        }
        let index = match self {
            SampleIndex::Default => {
                let default = profile.string(profile.default_sample_type);
                profile
                    .sample_type_index(default)
                    .filter(|_| !default.is_empty())
                    .unwrap_or(types.len() - 1)
            }
            SampleIndex::Name(name) => match profile.sample_type_index(name) {
                Some(i) => i,
                // A negative number is a position too, and out of range.
                None if name.parse::<i64>().is_ok() => bail!(
                    "sample index {name} is out of range; the profile has {} sample types ({})",
                    types.len(),
                    describe(&types)
                ),
                None => bail!(
                    "no sample type {name:?}; the profile has {}",
                    describe(&types)
                ),
            },
            SampleIndex::Position(i) if *i < types.len() => *i,
            SampleIndex::Position(i) => bail!(
                "sample index {i} is out of range; the profile has {} sample types ({})",
                types.len(),
                describe(&types)
            ),
        };
        let (name, unit) = types[index];
        Ok(SampleType {
            index,
            name: name.to_owned(),
            unit: unit.to_owned(),
        })
    }
}

fn describe(types: &[(&str, &str)]) -> String {
    types.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}
