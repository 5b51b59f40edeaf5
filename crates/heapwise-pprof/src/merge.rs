//! Merging profiles, and diffing against a base (`pprof -base`).

use std::collections::HashMap;

use crate::builder::ProfileBuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::profile::{Function, Label, Line, Location, Mapping, Profile};

/// Sample types and period type as strings: what must match for profiles
/// to be combined.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    sample_types: Vec<(String, String)>,
    period_type: (String, String),
}

impl Shape {
    fn of(p: &Profile) -> Shape {
        let pair = |(t, u): (&str, &str)| (t.to_owned(), u.to_owned());
        Shape {
            sample_types: p.sample_types().into_iter().map(pair).collect(),
            period_type: p.period_type_names().map_or_else(Default::default, pair),
        }
    }

    fn describe_types(&self) -> String {
        let parts: Vec<String> = self
            .sample_types
            .iter()
            .map(|(t, u)| format!("{t}/{u}"))
            .collect();
        format!("[{}]", parts.join(", "))
    }

    fn describe_period(&self) -> String {
        let (t, u) = &self.period_type;
        if t.is_empty() && u.is_empty() {
            "none".to_owned()
        } else {
            format!("{t}/{u}")
        }
    }

    /// Checks that `other` matches; `context` introduces the error and
    /// `names` labels the two sides.
    fn check(&self, other: &Shape, context: &str, names: (&str, &str)) -> Result<()> {
        let (a, b) = names;
        if self.sample_types != other.sample_types {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!(
                    "{context}: sample types differ: {a} has {}, {b} has {}",
                    self.describe_types(),
                    other.describe_types()
                ),
            ));
        }
        if self.period_type != other.period_type {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!(
                    "{context}: period types differ: {a} has {}, {b} has {}",
                    self.describe_period(),
                    other.describe_period()
                ),
            ));
        }
        Ok(())
    }
}

/// What identifies a mapping across profiles: its size, offset and file.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MappingKey {
    size: u64,
    file_offset: u64,
    filename: i64,
    build_id: i64,
}

/// A sample's identity in the merged profile: its stack and its labels
/// (sorted, so label order does not matter).
type SampleKey = (Vec<u64>, Vec<Label>);

/// Accumulates profiles into one.
struct Merger {
    b: ProfileBuilder,
    mappings: HashMap<MappingKey, (u64, u64)>,
    samples: HashMap<SampleKey, usize>,
    shape: Shape,
}

impl Merger {
    /// A merger whose sample types and period type are those of `first`.
    fn new(first: &Profile) -> Merger {
        let mut b = ProfileBuilder::new();
        for (t, u) in first.sample_types() {
            b.sample_type(t, u);
        }
        if let Some((t, u)) = first.period_type_names() {
            b.period(t, u, first.period);
        }
        for (s, field) in [
            (first.drop_frames, 0),
            (first.keep_frames, 1),
            (first.default_sample_type, 2),
            (first.doc_url, 3),
        ] {
            if s != 0 {
                let i = b.string(first.string(s));
                let p = b.profile_mut();
                match field {
                    0 => p.drop_frames = i,
                    1 => p.keep_frames = i,
                    2 => p.default_sample_type = i,
                    _ => p.doc_url = i,
                }
            }
        }
        let p = b.profile_mut();
        p.time_nanos = first.time_nanos;
        p.period = first.period;
        Merger {
            b,
            mappings: HashMap::new(),
            samples: HashMap::new(),
            shape: Shape::of(first),
        }
    }

    /// Adds `p`'s samples, negated if `negate`; with `metadata`, also
    /// folds in its time, duration, period and comments.
    fn add(&mut self, p: &Profile, negate: bool, metadata: bool) -> Result<()> {
        p.validate()?;
        let b = &mut self.b;

        // Mappings: old id -> (new id, old start, new start).
        let mut mapping_map: HashMap<u64, (u64, u64, u64)> = HashMap::new();
        for m in &p.mapping {
            let key = MappingKey {
                size: m.memory_limit.wrapping_sub(m.memory_start),
                file_offset: m.file_offset,
                filename: b.string(p.string(m.filename)),
                build_id: b.string(p.string(m.build_id)),
            };
            let (id, start) = match self.mappings.get(&key) {
                Some(&found) => found,
                None => {
                    let id = b.add_mapping(Mapping {
                        filename: key.filename,
                        build_id: key.build_id,
                        ..m.clone()
                    });
                    self.mappings.insert(key, (id, m.memory_start));
                    (id, m.memory_start)
                }
            };
            mapping_map.insert(m.id, (id, m.memory_start, start));
        }

        let mut function_map: HashMap<u64, u64> = HashMap::new();
        for f in &p.function {
            let function = Function {
                id: f.id,
                name: b.string(p.string(f.name)),
                system_name: b.string(p.string(f.system_name)),
                filename: b.string(p.string(f.filename)),
                start_line: f.start_line,
            };
            let id = b.add_function(function);
            function_map.insert(f.id, id);
        }

        let mut location_map: HashMap<u64, u64> = HashMap::new();
        for l in &p.location {
            let (mapping_id, address) = match mapping_map.get(&l.mapping_id) {
                // Addresses are kept relative to the mapping, so the same
                // code loaded at a different base merges.
                Some(&(id, old_start, new_start)) => (
                    id,
                    l.address.wrapping_sub(old_start).wrapping_add(new_start),
                ),
                None => (0, l.address),
            };
            let line = l
                .line
                .iter()
                .map(|line| Line {
                    function_id: function_map.get(&line.function_id).copied().unwrap_or(0),
                    ..*line
                })
                .collect();
            let id = b.add_location(Location {
                id: l.id,
                mapping_id,
                address,
                line,
                is_folded: l.is_folded,
            });
            location_map.insert(l.id, id);
        }

        for s in &p.sample {
            let locations: Vec<u64> = s
                .location_id
                .iter()
                .filter_map(|id| location_map.get(id).copied())
                .collect();
            let labels: Vec<Label> = s
                .label
                .iter()
                .map(|l| Label {
                    key: b.string(p.string(l.key)),
                    str: b.string(p.string(l.str)),
                    num: l.num,
                    num_unit: b.string(p.string(l.num_unit)),
                })
                .collect();
            let values: Vec<i64> = s
                .value
                .iter()
                .map(|&v| if negate { v.saturating_neg() } else { v })
                .collect();
            let mut sorted = labels.clone();
            sorted.sort_unstable();
            let key = (locations, sorted);
            let samples = b.samples_mut();
            match self.samples.get(&key) {
                Some(&i) => {
                    if let Some(existing) = samples.get_mut(i) {
                        for (acc, v) in existing.value.iter_mut().zip(&values) {
                            *acc = acc.saturating_add(*v);
                        }
                    }
                }
                None => {
                    self.samples.insert(key.clone(), samples.len());
                    b.sample(&key.0, &values, &labels);
                }
            }
        }

        if metadata {
            let comments: Vec<String> = p.comment.iter().map(|&c| p.string(c).to_owned()).collect();
            for text in comments {
                let c = b.string(&text);
                if !b.profile().comment.contains(&c) {
                    b.profile_mut().comment.push(c);
                }
            }
            let out = b.profile_mut();
            if p.time_nanos != 0 && (out.time_nanos == 0 || p.time_nanos < out.time_nanos) {
                out.time_nanos = p.time_nanos;
            }
            out.duration_nanos = out.duration_nanos.saturating_add(p.duration_nanos);
            out.period = out.period.max(p.period);
        }
        Ok(())
    }
}

impl Profile {
    /// Merges profiles that have the same sample types and period type into
    /// one: samples with the same stack (same locations, compared by
    /// mapping, address and lines) and the same labels are summed
    /// (saturating). The result starts at the earliest `time_nanos`, lasts
    /// the sum of the durations, uses the largest `period`, and keeps every
    /// distinct comment.
    ///
    /// Each input is validated first. Mismatched sample or period types give
    /// an [`ErrorKind::Incompatible`] error naming both.
    pub fn merge<'a>(profiles: impl IntoIterator<Item = &'a Profile>) -> Result<Profile> {
        let mut iter = profiles.into_iter();
        let first = iter
            .next()
            .ok_or_else(|| Error::invalid("no profiles to merge"))?;
        let mut merger = Merger::new(first);
        merger.add(first, false, true)?;
        for (i, p) in iter.enumerate() {
            let shape = Shape::of(p);
            let name = format!("profile {}", i + 1);
            merger
                .shape
                .check(&shape, "cannot merge profiles", ("profile 0", &name))?;
            merger.add(p, false, true)?;
        }
        Ok(merger.b.build())
    }

    /// `self - base`, as `pprof -base` computes it: the base's samples are
    /// negated and merged into this profile's, so stacks present in both
    /// show the change and stacks only in the base show up negative.
    /// Samples whose values all cancel to zero are dropped. Time, duration
    /// and comments are this profile's.
    ///
    /// Both profiles must have the same sample types and period type; a
    /// mismatch is an [`ErrorKind::Incompatible`] error naming both.
    pub fn diff_base(&self, base: &Profile) -> Result<Profile> {
        Shape::of(self).check(
            &Shape::of(base),
            "cannot subtract base profile",
            ("new profile", "base"),
        )?;
        let mut merger = Merger::new(self);
        merger.add(self, false, true)?;
        merger.add(base, true, false)?;
        let mut out = merger.b.build();
        out.sample.retain(|s| s.value.iter().any(|&v| v != 0));
        Ok(out)
    }
}
