//! Checking a profile's internal references.

use crate::error::{Error, Result};
use crate::profile::Profile;

/// Checks that `index` is a valid string table index; `what` describes the
/// field for the error message.
fn check_string(table_len: usize, index: i64, what: impl FnOnce() -> String) -> Result<()> {
    match usize::try_from(index) {
        Ok(i) if i < table_len => Ok(()),
        _ => Err(Error::invalid(format!(
            "{} refers to string {index}, but the string table has {table_len} entries",
            what()
        ))),
    }
}

/// A sorted index of ids, rejecting zero and duplicates. Exactly one `u64`
/// per id, which the decoder's memory budget counts.
fn collect_ids(kind: &str, ids: impl ExactSizeIterator<Item = u64>) -> Result<Ids> {
    let mut sorted = Vec::with_capacity(ids.len());
    for (index, id) in ids.enumerate() {
        if id == 0 {
            return Err(Error::invalid(format!(
                "{kind} at index {index} has id 0; ids must be nonzero"
            )));
        }
        sorted.push(id);
    }
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::invalid(format!("duplicate {kind} id {}", pair[0])));
    }
    Ok(Ids(sorted))
}

/// Sorted, unique, nonzero ids.
struct Ids(Vec<u64>);

impl Ids {
    fn contains(&self, id: &u64) -> bool {
        // Ids 1..=N, as writers number them, need no search.
        if self.0.last() == Some(&(self.0.len() as u64)) {
            return (1..=self.0.len() as u64).contains(id);
        }
        self.0.binary_search(id).is_ok()
    }
}

impl Profile {
    /// Checks the rules of profile.proto that the wire format cannot
    /// express:
    ///
    /// - the string table starts with `""`, and every string index is in
    ///   range;
    /// - mapping, location and function ids are nonzero and unique;
    /// - every location's `mapping_id` and every line's `function_id` is 0
    ///   or the id of an existing mapping or function;
    /// - every sample's location ids exist, and every sample has one value
    ///   per sample type.
    ///
    /// [`Profile::decode`] calls this; call it yourself after editing a
    /// profile by hand.
    pub fn validate(&self) -> Result<()> {
        match self.string_table.first() {
            None => {
                return Err(Error::invalid(
                    "string table is empty; entry 0 must be the empty string",
                ))
            }
            Some(s) if !s.is_empty() => {
                return Err(Error::invalid(format!(
                    "string table entry 0 is {s:?}; it must be the empty string"
                )))
            }
            Some(_) => {}
        }
        let n = self.string_table.len();

        for (i, vt) in self.sample_type.iter().enumerate() {
            check_string(n, vt.ty, || format!("sample type {i} type"))?;
            check_string(n, vt.unit, || format!("sample type {i} unit"))?;
        }
        if let Some(vt) = &self.period_type {
            check_string(n, vt.ty, || "period type type".to_owned())?;
            check_string(n, vt.unit, || "period type unit".to_owned())?;
        }
        check_string(n, self.drop_frames, || "drop_frames".to_owned())?;
        check_string(n, self.keep_frames, || "keep_frames".to_owned())?;
        check_string(n, self.default_sample_type, || {
            "default_sample_type".to_owned()
        })?;
        check_string(n, self.doc_url, || "doc_url".to_owned())?;
        for (i, &c) in self.comment.iter().enumerate() {
            check_string(n, c, || format!("comment {i}"))?;
        }

        let mappings = collect_ids("mapping", self.mapping.iter().map(|m| m.id))?;
        for m in &self.mapping {
            check_string(n, m.filename, || format!("mapping {} filename", m.id))?;
            check_string(n, m.build_id, || format!("mapping {} build_id", m.id))?;
        }

        let functions = collect_ids("function", self.function.iter().map(|f| f.id))?;
        for f in &self.function {
            check_string(n, f.name, || format!("function {} name", f.id))?;
            check_string(n, f.system_name, || {
                format!("function {} system_name", f.id)
            })?;
            check_string(n, f.filename, || format!("function {} filename", f.id))?;
        }

        let locations = collect_ids("location", self.location.iter().map(|l| l.id))?;
        for l in &self.location {
            if l.mapping_id != 0 && !mappings.contains(&l.mapping_id) {
                return Err(Error::invalid(format!(
                    "location {} refers to mapping {}, which does not exist",
                    l.id, l.mapping_id
                )));
            }
            for (j, line) in l.line.iter().enumerate() {
                if line.function_id != 0 && !functions.contains(&line.function_id) {
                    return Err(Error::invalid(format!(
                        "location {} line {j} refers to function {}, which does not exist",
                        l.id, line.function_id
                    )));
                }
            }
        }

        let types = self.sample_type.len();
        for (i, s) in self.sample.iter().enumerate() {
            if s.value.len() != types {
                return Err(Error::invalid(format!(
                    "sample {i} has {} values, but the profile has {types} sample types",
                    s.value.len()
                )));
            }
            for &id in &s.location_id {
                if !locations.contains(&id) {
                    return Err(Error::invalid(format!(
                        "sample {i} refers to location {id}, which does not exist"
                    )));
                }
            }
            for (j, label) in s.label.iter().enumerate() {
                check_string(n, label.key, || format!("sample {i} label {j} key"))?;
                check_string(n, label.str, || format!("sample {i} label {j} str"))?;
                check_string(n, label.num_unit, || {
                    format!("sample {i} label {j} num_unit")
                })?;
            }
        }
        Ok(())
    }
}
