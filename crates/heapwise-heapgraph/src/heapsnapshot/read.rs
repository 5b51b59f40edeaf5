//! Reading a `.heapsnapshot` back into a [`HeapGraph`].

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::json::{Json, MAX_DEPTH};
use super::write::{kind_node_name, LEAKED};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Block, BlockId, Edge, Frame, HeapGraph, Holder, Root, RootId, RootKind, StackId, MAX_OFFSET,
};

/// Limits for reading a `.heapsnapshot`.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    max_memory: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions::new()
    }
}

impl ReadOptions {
    /// The defaults: at most 4 GiB for the parsed arrays and strings.
    pub fn new() -> Self {
        ReadOptions {
            max_memory: 4 << 30,
        }
    }

    /// The most memory the parsed arrays and strings may take (8 bytes a
    /// number, a string's length plus 24 bytes); past it, reading fails
    /// with [`ErrorKind::TooLarge`] before
    /// allocating more. The graph built from them takes less.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes;
        self
    }
}

struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    fn take(&mut self, bytes: u64) -> Result<()> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            Error::too_large(format!(
                "reading would take more than the {} MiB memory limit",
                self.limit >> 20
            ))
        })?;
        Ok(())
    }
}

#[derive(Default)]
struct Meta {
    node_fields: Vec<String>,
    node_types: Vec<String>,
    edge_fields: Vec<String>,
    edge_types: Vec<String>,
    trace_function_info_fields: Vec<String>,
}

struct TraceNode {
    id: u64,
    function_info: u64,
    parent: u32,
}

const NONE: u32 = u32::MAX;
/// No block is larger (x86_64's and aarch64's user space are smaller)...
const MAX_BLOCK: u64 = 1 << 48;
/// ...and no heap: so sums of sizes never wrap.
const MAX_HEAP: u64 = 1 << 56;

impl HeapGraph {
    /// Reads a `.heapsnapshot` (as [`Analysis::write_heapsnapshot`]
    /// writes; other producers' files too, every non-synthetic node a
    /// block). The graph has no addresses: blocks and roots are at 0, and
    /// offsets are rounded down to a multiple of 8. Hostile input gives a
    /// one-line [`Error`], never a panic, within
    /// [`ReadOptions::max_memory`].
    ///
    /// [`Analysis::write_heapsnapshot`]: crate::Analysis::write_heapsnapshot
    pub fn read_heapsnapshot(bytes: &[u8], options: &ReadOptions) -> Result<HeapGraph> {
        read(bytes, options)
    }

    /// Reads the `.heapsnapshot` file `path` with the default options. The
    /// file may be at most [`ReadOptions::max_memory`] bytes, and one that
    /// does not start with JSON's `{` is refused after its first bytes
    /// (`/dev/zero` at once, not read whole).
    pub fn load_heapsnapshot(path: impl AsRef<Path>) -> Result<HeapGraph> {
        let path = path.as_ref();
        let options = ReadOptions::new();
        let named = |e: Error| Error::new(e.kind(), format!("{}: {}", path.display(), e.message()));
        let bytes = read_file(path, options.max_memory).map_err(named)?;
        read(&bytes, &options).map_err(named)
    }
}

/// The bytes of the file at `path`, at most `limit` of them, refused early
/// unless the first byte after any whitespace is `{`.
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    // The reason alone ("no such file or directory"): the caller names the
    // file, and the message is the error's whole text (its source was
    // dropped: "X: cannot read X").
    let cannot = |e: std::io::Error| {
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        let reason: String = chars
            .next()
            .map(|first| first.to_lowercase().chain(chars).collect())
            .unwrap_or_default();
        Error::io(reason, e)
    };
    let too_large = || {
        Error::new(
            ErrorKind::TooLarge,
            format!("larger than the reader's limit of {limit} bytes"),
        )
    };
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    // The start first, a chunk at a time, until a non-blank byte.
    let mut chunk = [0u8; 8192];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot(e)),
        };
        let blank = bytes.len();
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        if let Some(at) = bytes[blank..].iter().position(|b| !b.is_ascii_whitespace()) {
            if bytes[blank + at] != b'{' {
                return Err(not_json(&bytes, blank + at));
            }
            break;
        }
        if n == 0 {
            // Empty or blank: the parser says so.
            return Ok(bytes);
        }
        if bytes.len() > 1 << 20 {
            return Err(Error::new(
                ErrorKind::Malformed,
                "not a .heapsnapshot: its first MiB is blank",
            ));
        }
    }
    // Then the rest, bounded.
    let left = limit - bytes.len() as u64;
    (&mut file)
        .take(left + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The error for a file whose first non-blank byte, at `at`, is not `{`.
fn not_json(bytes: &[u8], at: usize) -> Error {
    let what = if bytes[at..].starts_with(&[0x1f, 0x8b]) {
        " (it is gzip-compressed: a pprof profile? heapwise top reads those)"
    } else {
        ""
    };
    Error::new(
        ErrorKind::Malformed,
        format!("not a .heapsnapshot: expected '{{' at byte {at}{what}"),
    )
}

fn string_array(j: &mut Json<'_>, budget: &mut Budget) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if j.open_array()? {
        loop {
            let s = j.string()?;
            budget.take(s.len() as u64 + 24)?;
            out.push(s);
            if !j.more(b']')? {
                break;
            }
        }
        j.expect(b']')?;
    }
    Ok(out)
}

fn uint_array(j: &mut Json<'_>, budget: &mut Budget, what: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    if j.open_array()? {
        loop {
            budget.take(8)?;
            let v = j
                .uint()
                .map_err(|e| Error::malformed(format!("{what}[{}]: {}", out.len(), e.message())))?;
            out.push(v);
            if !j.more(b']')? {
                break;
            }
        }
        j.expect(b']')?;
    }
    Ok(out)
}

/// `node_types`/`edge_types`: the first element is the list of type names.
fn type_list(j: &mut Json<'_>, budget: &mut Budget) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if j.open_array()? {
        let mut first = true;
        loop {
            if first && j.peek() == Some(b'[') {
                out = string_array(j, budget)?;
            } else {
                j.skip()?;
            }
            first = false;
            if !j.more(b']')? {
                break;
            }
        }
        j.expect(b']')?;
    }
    Ok(out)
}

fn object_keys(
    j: &mut Json<'_>,
    mut each: impl FnMut(&mut Json<'_>, &str) -> Result<()>,
) -> Result<()> {
    j.expect(b'{')?;
    if j.peek() == Some(b'}') {
        j.pos += 1;
        return Ok(());
    }
    loop {
        let key = j.string()?;
        j.expect(b':')?;
        each(j, &key)?;
        if !j.more(b'}')? {
            break;
        }
    }
    j.expect(b'}')
}

fn meta(j: &mut Json<'_>, budget: &mut Budget) -> Result<Meta> {
    let mut m = Meta::default();
    object_keys(j, |j, key| {
        if key != "meta" {
            return j.skip();
        }
        object_keys(j, |j, key| {
            match key {
                "node_fields" => m.node_fields = string_array(j, budget)?,
                "edge_fields" => m.edge_fields = string_array(j, budget)?,
                "trace_function_info_fields" => {
                    m.trace_function_info_fields = string_array(j, budget)?
                }
                "node_types" => m.node_types = type_list(j, budget)?,
                "edge_types" => m.edge_types = type_list(j, budget)?,
                _ => j.skip()?,
            }
            Ok(())
        })
    })?;
    Ok(m)
}

/// V8's trace tree: `[id, function_info, count, size, [children, flat]]`,
/// iteratively.
fn trace_tree(j: &mut Json<'_>, budget: &mut Budget) -> Result<Vec<TraceNode>> {
    let mut nodes: Vec<TraceNode> = Vec::new();
    let mut lists: Vec<u32> = vec![NONE];
    j.expect(b'[')?;
    let mut field = 0;
    let mut cur = [0u64; 4];
    loop {
        if j.peek() == Some(b']') {
            if field != 0 {
                return Err(j.error("trace_tree: incomplete trace node"));
            }
            j.pos += 1;
            lists.pop();
            if lists.is_empty() {
                return Ok(nodes);
            }
            // The children array was the last field of its node.
            if !j.more(b']')? {
                continue;
            }
            continue;
        }
        if field < 4 {
            cur[field] = j.uint()?;
            field += 1;
            j.more(b']')?;
            continue;
        }
        budget.take(48)?;
        nodes.push(TraceNode {
            id: cur[0],
            function_info: cur[1],
            parent: *lists.last().expect("inside a list"),
        });
        if lists.len() > MAX_DEPTH {
            return Err(j.error("trace_tree: nesting too deep"));
        }
        j.expect(b'[')?;
        lists.push(nodes.len() as u32 - 1);
        field = 0;
    }
}

fn field(fields: &[String], name: &str, what: &str) -> Result<usize> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| Error::malformed(format!("snapshot.meta.{what} has no \"{name}\"")))
}

fn read(bytes: &[u8], options: &ReadOptions) -> Result<HeapGraph> {
    let mut budget = Budget {
        left: options.max_memory,
        limit: options.max_memory,
    };
    let mut j = Json::new(bytes);
    let mut meta_v = None;
    let (mut nodes, mut edges, mut infos) = (Vec::new(), Vec::new(), Vec::new());
    let mut trace = Vec::new();
    let mut strings = Vec::new();
    object_keys(&mut j, |j, key| {
        match key {
            "snapshot" => meta_v = Some(meta(j, &mut budget)?),
            "nodes" => nodes = uint_array(j, &mut budget, "nodes")?,
            "edges" => edges = uint_array(j, &mut budget, "edges")?,
            "trace_function_infos" => infos = uint_array(j, &mut budget, "trace_function_infos")?,
            "trace_tree" => trace = trace_tree(j, &mut budget)?,
            "strings" => strings = string_array(j, &mut budget)?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    if !j.at_end() {
        return Err(j.error("trailing data after the snapshot"));
    }
    let m = meta_v.ok_or_else(|| Error::malformed("no \"snapshot\" (its meta) in the file"))?;
    let nf = m.node_fields.len();
    let ef = m.edge_fields.len();
    let (n_type, n_name, n_id, n_size, n_edges) = (
        field(&m.node_fields, "type", "node_fields")?,
        field(&m.node_fields, "name", "node_fields")?,
        field(&m.node_fields, "id", "node_fields")?,
        field(&m.node_fields, "self_size", "node_fields")?,
        field(&m.node_fields, "edge_count", "node_fields")?,
    );
    let n_trace = m.node_fields.iter().position(|f| f == "trace_node_id");
    let (e_type, e_name, e_to) = (
        field(&m.edge_fields, "type", "edge_fields")?,
        field(&m.edge_fields, "name_or_index", "edge_fields")?,
        field(&m.edge_fields, "to_node", "edge_fields")?,
    );
    if nodes.len() % nf != 0 {
        return Err(Error::malformed(format!(
            "nodes has {} numbers, not a multiple of the {nf} node fields",
            nodes.len()
        )));
    }
    if edges.len() % ef != 0 {
        return Err(Error::malformed(format!(
            "edges has {} numbers, not a multiple of the {ef} edge fields",
            edges.len()
        )));
    }
    let node_count = nodes.len() / nf;
    let string = |i: u64, what: &str| -> Result<&str> {
        strings
            .get(i as usize)
            .map(String::as_str)
            .ok_or_else(|| Error::malformed(format!("{what}: string {i} does not exist")))
    };
    let type_name = |types: &[String], t: u64, what: &str| -> Result<String> {
        types
            .get(t as usize)
            .cloned()
            .ok_or_else(|| Error::malformed(format!("{what}: type {t} does not exist")))
    };
    let edge_type_of = |name: &str| {
        m.edge_types
            .iter()
            .position(|t| t == name)
            .map(|p| p as u64)
    };
    let (element, hidden, weak) = (
        edge_type_of("element"),
        edge_type_of("hidden"),
        edge_type_of("weak"),
    );

    // Nodes: blocks are the non-synthetic ones.
    let mut block_of = vec![NONE; node_count];
    // Synthetic node -> its name's string index (names are copied only
    // for the roots, within the budget).
    let mut synthetic_names: HashMap<u32, &str> = HashMap::new();
    let mut blocks_raw: Vec<(u64, u64, u64)> = Vec::new();
    let mut total = 0u64;
    for i in 0..node_count {
        let n = &nodes[i * nf..(i + 1) * nf];
        let ty = type_name(&m.node_types, n[n_type], &format!("node {i}"))?;
        let name = string(n[n_name], &format!("node {i}"))?;
        if ty == "synthetic" {
            synthetic_names.insert(i as u32, name);
        } else {
            let size = n[n_size];
            total = total.saturating_add(size);
            if size > MAX_BLOCK || total > MAX_HEAP {
                // Sums of sizes past 2^64 wrapped: "retains
                // 18446744073709551615 bytes (2244596390941370.00%)".
                return Err(Error::new(
                    ErrorKind::Malformed,
                    format!(
                        "node {i}: self_size {size} {}",
                        if size > MAX_BLOCK {
                            "is larger than any address space (2^48 bytes)"
                        } else {
                            "takes the heap past 2^56 bytes"
                        }
                    ),
                ));
            }
            block_of[i] = blocks_raw.len() as u32;
            budget.take(28)?;
            blocks_raw.push((n[n_id], size, n_trace.map_or(0, |t| n[t])));
        }
    }
    // Edges, grouped by source node.
    let mut raw_edges: Vec<(u32, u64, u32, u64)> = Vec::new(); // (from node, type, to node, name_or_index)
    let mut e = 0usize;
    let edge_total = edges.len() / ef;
    for i in 0..node_count {
        let count = nodes[i * nf + n_edges];
        if count > (edge_total - e) as u64 {
            return Err(Error::malformed(format!(
                "node {i} has {count} edges, more than the {} left",
                edge_total - e
            )));
        }
        for _ in 0..count {
            let x = &edges[e * ef..(e + 1) * ef];
            let to = x[e_to];
            if to % nf as u64 != 0 || to / nf as u64 >= node_count as u64 {
                return Err(Error::malformed(format!(
                    "edges[{e}]: to_node {to} is not a node (a multiple of {nf} below {})",
                    nodes.len()
                )));
            }
            budget.take(24)?;
            raw_edges.push((i as u32, x[e_type], (to / nf as u64) as u32, x[e_name]));
            e += 1;
        }
    }
    if e != edge_total {
        return Err(Error::malformed(format!(
            "the nodes' edge counts add up to {e}, but there are {edge_total} edges"
        )));
    }
    drop(edges);
    drop(nodes);

    // Roots: synthetic nodes with pointers to blocks, but `(leaked)`; the
    // kind from the kind node above them.
    let kind_names: HashMap<String, RootKind> = RootKind::ALL
        .into_iter()
        .map(|k| (kind_node_name(k), k))
        .collect();
    let mut root_kind: HashMap<u32, RootKind> = HashMap::new();
    for &(from, _, to, _) in &raw_edges {
        if let (Some(name), Some(_)) = (synthetic_names.get(&from), synthetic_names.get(&to)) {
            if let Some(&k) = kind_names.get(*name) {
                root_kind.insert(to, k);
            }
        }
    }
    let mut root_of: HashMap<u32, u32> = HashMap::new();
    let mut roots = Vec::new();
    let mut graph_edges = Vec::new();
    let mut kinded: Vec<(&u32, &RootKind)> = root_kind.iter().collect();
    kinded.sort();
    for (&node, &kind) in kinded {
        let name = synthetic_names[&node];
        budget.take(name.len() as u64 + 64)?;
        root_of.insert(node, roots.len() as u32);
        let name = if name == kind.label() { "" } else { name };
        roots.push(Root::new(kind, name, 0, 0));
    }
    for (k, &(from, ty, to, name)) in raw_edges.iter().enumerate() {
        let target = block_of[to as usize];
        if target == NONE || Some(ty) == weak {
            continue;
        }
        let offset = if Some(ty) == element || Some(ty) == hidden {
            name & !7
        } else {
            0
        };
        if offset > MAX_OFFSET {
            return Err(Error::malformed(format!(
                "edge {k}: offset {name} is beyond {MAX_OFFSET}"
            )));
        }
        let holder = if block_of[from as usize] != NONE {
            Holder::Block(BlockId(block_of[from as usize]))
        } else {
            let name = synthetic_names[&from];
            if name == LEAKED {
                continue;
            }
            let next = roots.len() as u32;
            let r = *root_of.entry(from).or_insert(next);
            if r == next {
                let kind = root_kind
                    .get(&from)
                    .copied()
                    .unwrap_or(RootKind::UnknownMemory);
                budget.take(name.len() as u64 + 64)?;
                let name = if name == kind.label() { "" } else { name };
                roots.push(Root::new(kind, name, 0, 0));
            }
            Holder::Root(RootId(r))
        };
        graph_edges.push(Edge {
            from: holder,
            offset,
            to: BlockId(target),
        });
    }
    drop(raw_edges);

    // Stacks from the trace tree.
    let fi_fields = if m.trace_function_info_fields.is_empty() {
        vec![
            "function_id",
            "name",
            "script_name",
            "script_id",
            "line",
            "column",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    } else {
        m.trace_function_info_fields.clone()
    };
    let fif = fi_fields.len();
    let (f_name, f_script, f_line) = (
        field(&fi_fields, "name", "trace_function_info_fields")?,
        field(&fi_fields, "script_name", "trace_function_info_fields")?,
        field(&fi_fields, "line", "trace_function_info_fields")?,
    );
    if infos.len() % fif != 0 {
        return Err(Error::malformed(format!(
            "trace_function_infos has {} numbers, not a multiple of {fif}",
            infos.len()
        )));
    }
    // Function info `fi`'s numbers (an index past the end, however large,
    // is none).
    let info = |fi: u64| -> Option<&[u64]> {
        let at = usize::try_from(fi).ok()?.checked_mul(fif)?;
        infos.get(at..at.checked_add(fif)?)
    };
    let frame_of = |fi: u64| -> Result<Frame> {
        let x = info(fi).ok_or_else(|| {
            Error::malformed(format!("trace_tree: function info {fi} does not exist"))
        })?;
        Ok(Frame::new(
            string(x[f_name], "trace_function_infos")?,
            string(x[f_script], "trace_function_infos")?,
            u32::try_from(x[f_line]).unwrap_or(u32::MAX),
        ))
    };
    let trace_index: HashMap<u64, u32> = trace
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id, i as u32))
        .collect();
    // Each block's trace is its own stack, its frames copied out of the
    // tree: a tree 3,000 deep with 100,000 leaves is 300 M frames from a
    // 3.8 MB file (it took 7 GB before the budget, charged frame by frame,
    // refused it). So what the stacks will take is summed first, a node's
    // from its parent's (the tree lists parents first), and charged at once.
    let frame_bytes = |fi: u64| -> u64 {
        let len = |x: u64| strings.get(x as usize).map_or(0, String::len) as u64;
        let strings_of = info(fi).map_or(0, |x| len(x[f_name]) + len(x[f_script]));
        (std::mem::size_of::<Frame>() + 32) as u64 + strings_of
    };
    let mut depth: Vec<u32> = Vec::with_capacity(trace.len());
    let mut cost: Vec<u64> = Vec::with_capacity(trace.len());
    for node in &trace {
        let (d, c) = match node.parent {
            NONE => (0, 0),
            parent => {
                let parent = parent as usize;
                debug_assert!(parent < depth.len(), "a parent after its child");
                (
                    depth[parent] + 1,
                    cost[parent].saturating_add(frame_bytes(node.function_info)),
                )
            }
        };
        depth.push(d);
        cost.push(c);
    }
    let mut counted: HashSet<u64> = HashSet::new();
    let mut stacks_cost = 0u64;
    for &(_, _, trace_id) in &blocks_raw {
        if let Some(&t) = trace_index.get(&trace_id) {
            if trace_id != 0 && counted.insert(trace_id) {
                stacks_cost = stacks_cost.saturating_add(cost[t as usize]);
            }
        }
    }
    drop((counted, cost));
    budget.take(stacks_cost)?;
    let mut stacks: Vec<Vec<Frame>> = vec![Vec::new()];
    let mut stack_of_trace: HashMap<u64, StackId> = HashMap::new();
    let mut blocks = Vec::with_capacity(blocks_raw.len());
    for &(id, size, trace_id) in &blocks_raw {
        let stack = match (trace_id, trace_index.get(&trace_id)) {
            (0, _) | (_, None) => StackId(0),
            (_, Some(&t)) => match stack_of_trace.get(&trace_id) {
                Some(&s) => s,
                None => {
                    let mut frames = Vec::with_capacity(depth[t as usize] as usize);
                    let mut at = t;
                    while trace[at as usize].parent != NONE {
                        frames.push(frame_of(trace[at as usize].function_info)?);
                        at = trace[at as usize].parent;
                    }
                    let s = StackId(stacks.len() as u32);
                    stacks.push(frames);
                    stack_of_trace.insert(trace_id, s);
                    s
                }
            },
        };
        blocks.push(Block {
            addr: 0,
            size,
            seq: id,
            stack,
        });
    }
    HeapGraph::from_parts(blocks, roots, stacks, &graph_edges)
}
