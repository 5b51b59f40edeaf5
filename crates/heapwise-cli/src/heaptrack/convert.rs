//! A recording as a Go heap profile: one sample per allocation info (a
//! block size at a stack), with heapwise's eight heap sample types.

use std::collections::HashMap;

use heapwise_pprof::{Label, Line, Mapping, Profile, ProfileBuilder, HEAP_SAMPLE_TYPES};

use super::error::{Error, ErrorKind, Result};
use super::names::demangle;
use super::recording::{version_text, Budget, Recording};
use heapwise_pprof::is_allocator_frame as is_plumbing;

/// The most instruction pointers of a stack kept (leaf first): Go's
/// largest profile depth.
pub(crate) const MAX_DEPTH: usize = 1024;

/// What a function name is to trimming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keep,
    Plumbing,
}

/// Builds the profile from `r`, charging `budget` for what it holds.
pub(crate) fn to_profile(
    r: &Recording,
    keep_allocator_frames: bool,
    budget: &mut Budget,
) -> Result<Profile> {
    let mut b = ProfileBuilder::new();
    for t in HEAP_SAMPLE_TYPES {
        b.sample_type(t.name, t.unit);
    }
    b.default_sample_type("inuse_space")
        .period("space", "bytes", 1)
        .duration_nanos(r.duration_ms.saturating_mul(1_000_000).min(i64::MAX as u64) as i64);
    let mut comment = format!(
        "imported from heaptrack {} data (file format {})",
        version_text(r.heaptrack_version),
        r.format
    );
    if r.heaptrack_version == 0 {
        comment = format!("imported from heaptrack data (file format {})", r.format);
    }
    b.comment(&comment);
    if let Some(command) = &r.command {
        b.comment(&format!("command: {}", command.trim()));
    }
    if r.peak_rss_pages > 0 && r.page_size > 0 {
        let bytes = r.peak_rss_pages.saturating_mul(r.page_size);
        b.comment(&format!("peak resident set size: {bytes} bytes"));
    }
    let peak = r.replay.peak_bytes();
    if peak > 0 {
        b.comment(&format!(
            "peak: {peak} bytes live at the high-water mark (peak_space, heapwise top --peak)"
        ));
    }
    if r.attached {
        b.comment("heaptrack attached to a running process: allocations made before are missing");
    }

    // The per-string and per-instruction-pointer tables below.
    budget.charge((r.strings.len() * 2 + r.ips.len() * 8) as u64, || {
        "the conversion's tables".to_owned()
    })?;
    let mut c = Converter {
        r,
        b,
        mappings: HashMap::new(),
        functions: HashMap::new(),
        kinds: vec![None; r.strings.len()],
        locations: vec![0; r.ips.len()],
        trim: !keep_allocator_frames,
    };
    c.add_mappings(budget)?;

    let bytes_key = c.b.string("bytes");
    let mut ips: Vec<u32> = Vec::new();
    let mut locs: Vec<u64> = Vec::new();
    for (i, info) in r.infos.iter().enumerate() {
        if info.allocs == 0 {
            continue;
        }
        let total = |n: u64| -> Result<[i64; 2]> {
            let bytes = n.checked_mul(info.size).filter(|&v| v <= i64::MAX as u64);
            match bytes {
                Some(bytes) if n <= i64::MAX as u64 => Ok([n as i64, bytes as i64]),
                _ => Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "allocation {i:#x}: {n} blocks of {} bytes do not fit in a 64-bit count",
                        info.size
                    ),
                )),
            }
        };
        let [ao, ab] = total(info.allocs)?;
        let [io, ib] = total(info.allocs - info.frees)?;
        let [po, pb] = total(r.replay.live_at_peak(info))?;
        let [to, tb] = total(info.temporary)?;
        ips.clear();
        let mut t = info.trace;
        while t != 0 && ips.len() < MAX_DEPTH {
            let node = r.traces[t as usize - 1];
            if node.ip != 0 {
                ips.push(node.ip);
            }
            t = node.parent;
        }
        locs.clear();
        c.stack(&ips, &mut locs, budget)?;
        budget.charge(96 + 8 * locs.len() as u64, || {
            format!("{} samples", c.b.profile().sample.len())
        })?;
        let label = Label {
            key: bytes_key,
            num: ab / ao,
            ..Label::default()
        };
        c.b.sample(&locs, &[ao, ab, io, ib, po, pb, to, tb], &[label]);
    }
    Ok(c.b.build())
}

struct Converter<'a> {
    r: &'a Recording,
    b: ProfileBuilder,
    /// Mapping id by module string index.
    mappings: HashMap<u32, u64>,
    /// Function id by (function, file) string indices.
    functions: HashMap<(u32, u32), u64>,
    /// What trimming does with each function string, once known.
    kinds: Vec<Option<Kind>>,
    /// The untrimmed location id of each instruction pointer (0: not yet).
    locations: Vec<u64>,
    trim: bool,
}

impl Converter<'_> {
    /// One mapping per module, over the addresses seen in it; it has
    /// functions if heaptrack named every one.
    fn add_mappings(&mut self, budget: &mut Budget) -> Result<()> {
        let mut ranges: HashMap<u32, (u64, u64, bool)> = HashMap::new();
        for ip in &self.r.ips {
            if ip.module == 0 {
                continue;
            }
            let named = ip.frames.first().is_some_and(|f| f.function != 0);
            let e = ranges
                .entry(ip.module)
                .or_insert((ip.address, ip.address, true));
            e.0 = e.0.min(ip.address);
            e.1 = e.1.max(ip.address);
            e.2 &= named;
        }
        let mut modules: Vec<_> = ranges.into_iter().collect();
        modules.sort_unstable_by_key(|m| m.0);
        for (module, (start, end, named)) in modules {
            let name = self.r.string(module);
            budget.charge(160 + name.len() as u64, || {
                format!("{} mappings", self.mappings.len())
            })?;
            let filename = self.b.string(name);
            let id = self.b.add_mapping(Mapping {
                memory_start: start,
                memory_limit: end.saturating_add(1),
                filename,
                has_functions: named,
                has_filenames: named,
                has_line_numbers: named,
                has_inline_frames: named,
                ..Mapping::default()
            });
            self.mappings.insert(module, id);
        }
        Ok(())
    }

    fn kind(&mut self, function: u32) -> Kind {
        let i = function as usize - 1;
        if let Some(kind) = self.kinds[i] {
            return kind;
        }
        let kind = if is_plumbing(&demangle(&self.r.strings[i])) {
            Kind::Plumbing
        } else {
            Kind::Keep
        };
        self.kinds[i] = Some(kind);
        kind
    }

    fn function(&mut self, function: u32, file: u32, budget: &mut Budget) -> Result<u64> {
        if let Some(&id) = self.functions.get(&(function, file)) {
            return Ok(id);
        }
        let system_name = self.r.string(function);
        let name = demangle(system_name);
        let filename = self.r.string(file);
        let n = self.functions.len();
        budget.charge(
            200 + (name.len() + system_name.len() + filename.len()) as u64,
            || format!("{n} functions"),
        )?;
        let id = self.b.function(&name, system_name, filename, 0);
        self.functions.insert((function, file), id);
        Ok(id)
    }

    /// The location of instruction pointer `ip` (1-based) with its lines
    /// from the `skip`th on.
    fn location(&mut self, ip: u32, skip: usize, budget: &mut Budget) -> Result<u64> {
        let i = ip as usize - 1;
        if skip == 0 && self.locations[i] != 0 {
            return Ok(self.locations[i]);
        }
        let r = self.r;
        let ip_data = &r.ips[i];
        let mut lines = Vec::with_capacity(ip_data.frames.len() - skip.min(ip_data.frames.len()));
        for f in ip_data.frames.iter().skip(skip) {
            if f.function == 0 {
                continue; // a file without a function: nothing to name
            }
            let function_id = self.function(f.function, f.file, budget)?;
            lines.push(Line {
                function_id,
                line: i64::from(f.line),
                column: 0,
            });
        }
        budget.charge(160 + 24 * lines.len() as u64, || {
            format!("{} locations", self.b.profile().location.len())
        })?;
        let mapping = self.mappings.get(&ip_data.module).copied().unwrap_or(0);
        let id = self.b.location(mapping, ip_data.address, &lines);
        if skip == 0 {
            self.locations[i] = id;
        }
        Ok(id)
    }

    /// Appends the location ids of a stack (instruction pointers, leaf
    /// first) to `out`, without the allocation plumbing at its leaf: the
    /// frames before the first that is not plumbing are left out (a frame
    /// heaptrack could not name stops the trimming), unless every frame is
    /// plumbing.
    fn stack(&mut self, ips: &[u32], out: &mut Vec<u64>, budget: &mut Budget) -> Result<()> {
        let mut start = (0, 0);
        if self.trim {
            'find: for (n, &ip) in ips.iter().enumerate() {
                let frames = &self.r.ips[ip as usize - 1].frames;
                if frames.is_empty() {
                    start = (n, 0);
                    break 'find;
                }
                for (j, f) in frames.iter().enumerate() {
                    if f.function == 0 || self.kind(f.function) == Kind::Keep {
                        start = (n, j);
                        break 'find;
                    }
                }
                if n + 1 == ips.len() {
                    start = (0, 0); // nothing but plumbing: keep it all
                }
            }
        }
        let (first, skip) = start;
        for (n, &ip) in ips.iter().enumerate().skip(first) {
            let skip = if n == first { skip } else { 0 };
            out.push(self.location(ip, skip, budget)?);
        }
        Ok(())
    }
}
