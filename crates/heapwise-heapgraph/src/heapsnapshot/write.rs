//! Writing a `.heapsnapshot`.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::model::{Frame, HeapGraph, RootKind};

/// The node fields and types of current V8.
const META: &str = r#"{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]},"#;

pub(crate) const NODE_FIELDS: usize = 7;
const NATIVE: u32 = 8;
const SYNTHETIC: u32 = 9;
const ELEMENT: u32 = 1;
const INTERNAL: u32 = 3;

/// The name of the node above the direct leaks.
pub(crate) const LEAKED: &str = "(leaked)";
/// The name of the node above the root kinds.
pub(crate) const GC_ROOTS: &str = "(GC roots)";

/// A kind node's name: `(globals)`.
pub(crate) fn kind_node_name(kind: RootKind) -> String {
    format!("({})", kind.label())
}

#[derive(Default)]
struct Strings {
    list: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// One node of the allocation-stack trie.
struct TraceNode {
    function_info: u32,
    count: u64,
    size: u64,
    children: Vec<u32>,
}

struct Node {
    ty: u32,
    name: u32,
    id: u64,
    self_size: u64,
    trace_node_id: u32,
    /// (type, name_or_index, target node ordinal).
    edges: Vec<(u32, u64, u32)>,
}

impl Analysis<'_> {
    /// Writes the graph as a `.heapsnapshot` (see [`crate::heapsnapshot`]).
    pub fn write_heapsnapshot(&self, w: impl Write) -> Result<()> {
        let mut out = BufWriter::with_capacity(1 << 16, w);
        write_snapshot(self, &mut out).map_err(|e| Error::io("writing the heap snapshot", e))?;
        out.flush()
            .map_err(|e| Error::io("writing the heap snapshot", e))
    }

    /// Writes the `.heapsnapshot` to the file `path`.
    pub fn save_heapsnapshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = std::fs::File::create(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        self.write_heapsnapshot(file)
    }
}

fn write_snapshot(analysis: &Analysis<'_>, out: &mut impl Write) -> std::io::Result<()> {
    let graph: &HeapGraph = analysis.graph();
    let mut strings = Strings::default();
    strings.id("");

    // Allocation stacks: function infos and the trie.
    let mut infos: Vec<(u32, u32, u32)> = vec![(strings.id("(root)"), strings.id(""), 0)];
    let mut info_ids: HashMap<&Frame, u32> = HashMap::new();
    let mut trie = vec![TraceNode {
        function_info: 0,
        count: 0,
        size: 0,
        children: Vec::new(),
    }];
    let mut child_of: HashMap<(u32, u32), u32> = HashMap::new();
    let mut stack_trace_node = Vec::with_capacity(graph.stacks.len());
    for frames in &graph.stacks {
        if frames.is_empty() {
            stack_trace_node.push(None);
            continue;
        }
        let mut at = 0u32;
        for f in frames.iter().rev() {
            let info = *info_ids.entry(f).or_insert_with(|| {
                infos.push((strings.id(&f.function), strings.id(&f.file), f.line));
                infos.len() as u32 - 1
            });
            at = *child_of.entry((at, info)).or_insert_with(|| {
                trie.push(TraceNode {
                    function_info: info,
                    count: 0,
                    size: 0,
                    children: Vec::new(),
                });
                let id = trie.len() as u32 - 1;
                trie[at as usize].children.push(id);
                id
            });
        }
        stack_trace_node.push(Some(at));
    }
    for b in graph.blocks.iter() {
        if let Some(t) = stack_trace_node[b.stack.0 as usize] {
            trie[t as usize].count += 1;
            trie[t as usize].size += b.size;
        }
    }
    // Trace node ids: the trie index + 1.

    // The synthetic layer.
    let base = graph
        .blocks
        .iter()
        .map(|b| b.seq)
        .max()
        .map_or(1, |m| m + 1);
    let mut synthetic: Vec<Node> = Vec::new();
    let mut add = |strings: &mut Strings, name: &str| {
        synthetic.push(Node {
            ty: SYNTHETIC,
            name: strings.id(name),
            id: base + synthetic.len() as u64,
            self_size: 0,
            trace_node_id: 0,
            edges: Vec::new(),
        });
        synthetic.len() as u32 - 1
    };
    let top = add(&mut strings, "");
    let gc_roots = add(&mut strings, GC_ROOTS);
    let kinds: Vec<RootKind> = RootKind::ALL
        .into_iter()
        .filter(|k| graph.roots.iter().any(|r| r.kind == *k))
        .collect();
    let kind_nodes: Vec<u32> = kinds
        .iter()
        .map(|&k| add(&mut strings, &kind_node_name(k)))
        .collect();
    let root_nodes: Vec<u32> = graph
        .roots
        .iter()
        .map(|r| add(&mut strings, r.display_name()))
        .collect();
    let leaked: Vec<u32> = analysis.direct_leaks().map(|b| b.0).collect();
    let leaked_node = (!leaked.is_empty()).then(|| add(&mut strings, LEAKED));
    let first_block = synthetic.len() as u32;
    let block_node = |b: u32| first_block + b;

    let name = strings.id(GC_ROOTS);
    synthetic[top as usize]
        .edges
        .push((INTERNAL, u64::from(name), gc_roots));
    if let Some(l) = leaked_node {
        let name = strings.id(LEAKED);
        synthetic[top as usize]
            .edges
            .push((INTERNAL, u64::from(name), l));
        for (i, &b) in leaked.iter().enumerate() {
            synthetic[l as usize]
                .edges
                .push((ELEMENT, i as u64, block_node(b)));
        }
    }
    for (&k, &kn) in kinds.iter().zip(&kind_nodes) {
        let name = strings.id(k.label());
        synthetic[gc_roots as usize]
            .edges
            .push((INTERNAL, u64::from(name), kn));
        let mut ordinal = 0u64;
        for (r, root) in graph.roots.iter().enumerate() {
            if root.kind == k {
                synthetic[kn as usize]
                    .edges
                    .push((ELEMENT, ordinal, root_nodes[r]));
                ordinal += 1;
            }
        }
    }
    for (r, &rn) in root_nodes.iter().enumerate() {
        for (word, to) in graph.holder_edges(r) {
            synthetic[rn as usize]
                .edges
                .push((ELEMENT, graph.offset_of(r, word), block_node(to)));
        }
    }
    let site_names: Vec<u32> = graph.sites.iter().map(|s| strings.id(s)).collect();

    // Header.
    let node_count = synthetic.len() + graph.blocks.len();
    let edge_count = synthetic.iter().map(|n| n.edges.len()).sum::<usize>() + graph.edge_count()
        - graph.edge_start[graph.roots.len()] as usize;
    write!(out, "{{\"snapshot\":{META}")?;
    write!(
        out,
        "\"node_count\":{node_count},\"edge_count\":{edge_count},\"trace_function_count\":{}}},\n\"nodes\":[",
        infos.len()
    )?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> std::io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            out.write_all(b",\n")
        }
    };
    for n in &synthetic {
        sep(out)?;
        write!(
            out,
            "{},{},{},{},{},{},0",
            n.ty,
            n.name,
            n.id,
            n.self_size,
            n.edges.len(),
            n.trace_node_id
        )?;
    }
    let roots = graph.roots.len();
    for (i, b) in graph.blocks.iter().enumerate() {
        sep(out)?;
        let edges = graph.edge_start[roots + i + 1] - graph.edge_start[roots + i];
        let trace = stack_trace_node[b.stack.0 as usize].map_or(0, |t| t + 1);
        write!(
            out,
            "{NATIVE},{},{},{},{edges},{trace},0",
            site_names[graph.stack_site[b.stack.0 as usize].0 as usize], b.seq, b.size
        )?;
    }
    out.write_all(b"],\n\"edges\":[")?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> std::io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            out.write_all(b",\n")
        }
    };
    let nf = NODE_FIELDS as u64;
    for n in &synthetic {
        for &(ty, name, to) in &n.edges {
            sep(out)?;
            write!(out, "{ty},{name},{}", u64::from(to) * nf)?;
        }
    }
    for i in 0..graph.blocks.len() {
        let h = roots + i;
        for (word, to) in graph.holder_edges(h) {
            sep(out)?;
            write!(
                out,
                "{ELEMENT},{},{}",
                graph.offset_of(h, word),
                u64::from(block_node(to)) * nf
            )?;
        }
    }
    out.write_all(b"],\n\"trace_function_infos\":[")?;
    for (i, &(name, file, line)) in infos.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        write!(out, "{i},{name},{file},0,{line},0")?;
    }
    out.write_all(b"],\n\"trace_tree\":")?;
    write_trie(&trie, out)?;
    out.write_all(b",\n\"samples\":[],\n\"locations\":[],\n\"strings\":[")?;
    for (i, s) in strings.list.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        write_json_string(out, s)?;
    }
    out.write_all(b"]}\n")
}

/// The trie as V8's nested arrays: `[id,function_info,count,size,[children
/// fields, flat]]`, iteratively.
fn write_trie(trie: &[TraceNode], out: &mut impl Write) -> std::io::Result<()> {
    // (node, next child)
    let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
    let open = |out: &mut dyn Write, t: u32| {
        let n = &trie[t as usize];
        write!(
            out,
            "{},{},{},{},[",
            t + 1,
            n.function_info,
            n.count,
            n.size
        )
    };
    out.write_all(b"[")?;
    open(out, 0)?;
    while let Some(entry) = stack.last_mut() {
        let (t, next) = *entry;
        if let Some(&c) = trie[t as usize].children.get(next) {
            entry.1 += 1;
            if next > 0 {
                out.write_all(b",")?;
            }
            open(out, c)?;
            stack.push((c, 0));
        } else {
            stack.pop();
            out.write_all(b"]")?;
        }
    }
    out.write_all(b"]")
}

pub(crate) fn write_json_string(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.write_all(&s.as_bytes()[start..i])?;
        match esc {
            Some(e) => out.write_all(e)?,
            None => write!(out, "\\u{:04x}", c as u32)?,
        }
        start = i + c.len_utf8();
    }
    out.write_all(&s.as_bytes()[start..])?;
    out.write_all(b"\"")
}
