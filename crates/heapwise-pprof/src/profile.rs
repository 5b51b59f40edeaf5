//! The profile.proto model.
//!
//! The types mirror `perftools.profiles` message for message and field for
//! field. Strings are stored once, in [`Profile::string_table`], and
//! referred to everywhere else by index (an `i64`, as in the proto);
//! mappings, locations and functions are referred to by their nonzero `id`.
//! [`Profile::string`] resolves an index, and [`crate::ProfileBuilder`]
//! interns strings and assigns ids when building a profile by hand.

/// A complete profile: `perftools.profiles.Profile`.
///
/// [`Profile::new`] (and `Default`) start with the string table `[""]`,
/// which every valid profile has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Field 1: what each entry of [`Sample::value`] measures.
    pub sample_type: Vec<ValueType>,
    /// Field 2: the samples.
    pub sample: Vec<Sample>,
    /// Field 3: the binaries mapped into the profiled process.
    pub mapping: Vec<Mapping>,
    /// Field 4: program locations referred to by samples.
    pub location: Vec<Location>,
    /// Field 5: functions referred to by location lines.
    pub function: Vec<Function>,
    /// Field 6: all strings; entry 0 must be `""`.
    pub string_table: Vec<String>,
    /// Field 7: string index of a regexp of frames to drop.
    pub drop_frames: i64,
    /// Field 8: string index of a regexp of frames to keep.
    pub keep_frames: i64,
    /// Field 9: collection start time, nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// Field 10: duration of the profile in nanoseconds.
    pub duration_nanos: i64,
    /// Field 11: the kind of events between sampled occurrences, if set.
    pub period_type: Option<ValueType>,
    /// Field 12: the number of events between sampled occurrences.
    pub period: i64,
    /// Field 13: string indices of free-form comments.
    pub comment: Vec<i64>,
    /// Field 14: string index of the preferred sample type's name.
    pub default_sample_type: i64,
    /// Field 15: string index of a documentation link for this profile type.
    pub doc_url: i64,
}

/// The meaning and unit of a value: `perftools.profiles.ValueType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ValueType {
    /// Field 1 (`type` in the proto): string index of the name, e.g.
    /// `alloc_space`.
    pub ty: i64,
    /// Field 2: string index of the unit, e.g. `bytes`.
    pub unit: i64,
}

/// One measurement at one stack: `perftools.profiles.Sample`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// Field 1: location ids, leaf first.
    pub location_id: Vec<u64>,
    /// Field 2: one value per [`Profile::sample_type`].
    pub value: Vec<i64>,
    /// Field 3: extra context, such as an allocation size.
    pub label: Vec<Label>,
}

/// A key with a string or numeric value: `perftools.profiles.Label`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Field 1: string index of the key.
    pub key: i64,
    /// Field 2: string index of the value, for a string label.
    pub str: i64,
    /// Field 3: the value, for a numeric label.
    pub num: i64,
    /// Field 4: string index of `num`'s unit.
    pub num_unit: i64,
}

/// A mapped binary or library: `perftools.profiles.Mapping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// Field 1: unique nonzero id.
    pub id: u64,
    /// Field 2: load address.
    pub memory_start: u64,
    /// Field 3: end of the mapped address range.
    pub memory_limit: u64,
    /// Field 4: file offset corresponding to `memory_start`.
    pub file_offset: u64,
    /// Field 5: string index of the file name.
    pub filename: i64,
    /// Field 6: string index of the build id.
    pub build_id: i64,
    /// Field 7: function names are resolved.
    pub has_functions: bool,
    /// Field 8: file names are resolved.
    pub has_filenames: bool,
    /// Field 9: line numbers are resolved.
    pub has_line_numbers: bool,
    /// Field 10: inlined frames are resolved.
    pub has_inline_frames: bool,
}

/// A program location: `perftools.profiles.Location`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// Field 1: unique nonzero id.
    pub id: u64,
    /// Field 2: id of the containing mapping, or 0 for none.
    pub mapping_id: u64,
    /// Field 3: instruction address, if known.
    pub address: u64,
    /// Field 4: source lines, innermost inlined function first.
    pub line: Vec<Line>,
    /// Field 5: several symbols were folded into this address.
    pub is_folded: bool,
}

/// A source line within a location: `perftools.profiles.Line`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Line {
    /// Field 1: id of the function, or 0 for none.
    pub function_id: u64,
    /// Field 2: line number.
    pub line: i64,
    /// Field 3: column number.
    pub column: i64,
}

/// A function: `perftools.profiles.Function`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Function {
    /// Field 1: unique nonzero id.
    pub id: u64,
    /// Field 2: string index of the human-readable name.
    pub name: i64,
    /// Field 3: string index of the system (e.g. mangled) name.
    pub system_name: i64,
    /// Field 4: string index of the source file.
    pub filename: i64,
    /// Field 5: line where the function starts.
    pub start_line: i64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile::new()
    }
}

/// Finds the item with `id`, trying the dense layout (`items[id - 1]`, what
/// Go and this crate write) before a linear scan.
fn by_id<T>(items: &[T], id: u64, id_of: impl Fn(&T) -> u64) -> Option<&T> {
    if id == 0 {
        return None;
    }
    let dense = usize::try_from(id - 1).ok().and_then(|i| items.get(i));
    match dense {
        Some(item) if id_of(item) == id => Some(item),
        _ => items.iter().find(|item| id_of(item) == id),
    }
}

impl Profile {
    /// An empty profile whose string table is `[""]`.
    pub fn new() -> Self {
        Profile {
            sample_type: Vec::new(),
            sample: Vec::new(),
            mapping: Vec::new(),
            location: Vec::new(),
            function: Vec::new(),
            string_table: vec![String::new()],
            drop_frames: 0,
            keep_frames: 0,
            time_nanos: 0,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            comment: Vec::new(),
            default_sample_type: 0,
            doc_url: 0,
        }
    }

    /// The bytes the profile holds on the heap (every vector's capacity and
    /// every string's): what a decode charges its memory limit for it, so
    /// that a reader of several files can share one limit among them.
    pub fn heap_size(&self) -> u64 {
        use std::mem::size_of;
        fn vec<T>(v: &Vec<T>) -> u64 {
            (v.capacity() * size_of::<T>()) as u64
        }
        let samples: u64 = self
            .sample
            .iter()
            .map(|s| vec(&s.location_id) + vec(&s.value) + vec(&s.label))
            .sum();
        let locations: u64 = self.location.iter().map(|l| vec(&l.line)).sum();
        let strings: u64 = self.string_table.iter().map(|s| s.capacity() as u64).sum();
        vec(&self.sample_type)
            + vec(&self.sample)
            + samples
            + vec(&self.mapping)
            + vec(&self.location)
            + locations
            + vec(&self.function)
            + vec(&self.string_table)
            + strings
            + vec(&self.comment)
    }

    /// The string at `index` in the string table, or `""` if the index is
    /// out of range (which [`Profile::validate`] reports as an error).
    pub fn string(&self, index: i64) -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.string_table.get(i))
            .map_or("", String::as_str)
    }

    /// The sample types as `(type, unit)` string pairs, in value order.
    pub fn sample_types(&self) -> Vec<(&str, &str)> {
        self.sample_type
            .iter()
            .map(|vt| (self.string(vt.ty), self.string(vt.unit)))
            .collect()
    }

    /// The period type as a `(type, unit)` string pair, if set.
    pub fn period_type_names(&self) -> Option<(&str, &str)> {
        self.period_type
            .map(|vt| (self.string(vt.ty), self.string(vt.unit)))
    }

    /// The index into [`Sample::value`] of the sample type called `name`
    /// (e.g. `"inuse_space"`), if there is one.
    pub fn sample_type_index(&self, name: &str) -> Option<usize> {
        self.sample_type
            .iter()
            .position(|vt| self.string(vt.ty) == name)
    }

    /// The mapping with `id`.
    pub fn mapping_by_id(&self, id: u64) -> Option<&Mapping> {
        by_id(&self.mapping, id, |m| m.id)
    }

    /// The location with `id`.
    pub fn location_by_id(&self, id: u64) -> Option<&Location> {
        by_id(&self.location, id, |l| l.id)
    }

    /// The function with `id`.
    pub fn function_by_id(&self, id: u64) -> Option<&Function> {
        by_id(&self.function, id, |f| f.id)
    }

    /// The function names of a sample's stack, leaf first; a location with
    /// inlined frames contributes one name per line, innermost first.
    /// Unknown ids and locations without lines are skipped.
    pub fn stack_function_names(&self, sample: &Sample) -> Vec<&str> {
        sample
            .location_id
            .iter()
            .filter_map(|&id| self.location_by_id(id))
            .flat_map(|loc| loc.line.iter())
            .filter_map(|line| self.function_by_id(line.function_id))
            .map(|f| self.string(f.name))
            .collect()
    }

    /// The sum of value `index` over all samples (saturating).
    pub fn total(&self, index: usize) -> i64 {
        self.sample
            .iter()
            .filter_map(|s| s.value.get(index))
            .fold(0i64, |acc, &v| acc.saturating_add(v))
    }
}
