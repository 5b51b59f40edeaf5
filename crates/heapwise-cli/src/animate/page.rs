//! The HTML page: one self-contained file (inline CSS, SVG drawn by inline
//! JavaScript, no network) that replays the mark.
//!
//! Everything about the heap is in one JSON document in a
//! `<script type="application/json">` element, with `<`, `>`, `&`, U+2028
//! and U+2029 written as `\u003c` and so on, so no name (a function called
//! `</script>`) can end the element or start markup; the script reads it
//! with `JSON.parse` and puts names into the page only as text
//! (`textContent`), never as markup. The file name in the title is
//! HTML-escaped.

use heapwise_heapgraph::{Analysis, Holder, LeakClass};
use serde_json::{json, Value};

use super::layout::{Layout, NODE_H, NODE_W};
use super::steps::{targets, Step};
use super::subgraph::Subgraph;

/// The page for `sub` of `analysis`'s graph, its mark `steps` and
/// `layout`; `title` names the snapshot.
pub(crate) fn render(
    analysis: &Analysis<'_>,
    sub: &Subgraph,
    steps: &[Step],
    layout: &Layout,
    title: &str,
) -> String {
    let data = data(analysis, sub, steps, layout, title);
    fill(
        TEMPLATE,
        &[
            ("{{TITLE}}", &html_escape(title)),
            ("{{NOTE}}", &html_escape(&note(sub))),
            ("{{DATA}}", &script_json(&data)),
        ],
    )
}

/// `template` with each placeholder replaced, in one pass (so a value
/// holding a placeholder's text stays as it is).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match values.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                out.push_str("{{");
                rest = &rest[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the page shows of the heap, in words.
pub(crate) fn note(sub: &Subgraph) -> String {
    let leaked_shown = sub.blocks.len() - sub.reachable_shown;
    if !sub.is_partial() {
        return format!(
            "All {} blocks ({} reachable, {} leaked) and the {} roots that point to them.",
            sub.blocks.len(),
            sub.reachable_shown,
            leaked_shown,
            sub.roots.len()
        );
    }
    format!(
        "A subgraph of a large heap: {} of {} reachable blocks (the first the mark greys, \
         so these steps are the start of the mark over the whole heap), {} of {} leaked \
         blocks (breadth-first from the direct leaks) and {} of {} roots; pointers to \
         blocks not shown are ignored. Raise --max-nodes to see more.",
        sub.reachable_shown,
        sub.reachable_total,
        leaked_shown,
        sub.leaked_total,
        sub.roots.len(),
        sub.roots_total
    )
}

fn leak_name(class: LeakClass) -> &'static str {
    match class {
        LeakClass::Reachable => "reachable",
        LeakClass::Direct => "direct leak",
        LeakClass::Indirect => "indirect leak",
    }
}

/// The JSON document the script replays.
fn data(
    analysis: &Analysis<'_>,
    sub: &Subgraph,
    steps: &[Step],
    layout: &Layout,
    title: &str,
) -> Value {
    let graph = analysis.graph();
    let mut edges = Vec::new();
    let nodes: Vec<Value> = sub
        .blocks
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let block = graph.block(b);
            let mut to: Vec<usize> = Vec::new();
            let mut hidden = 0;
            for t in targets(graph, Holder::Block(b)) {
                match sub.node(t) {
                    Some(j) if !to.contains(&j) => to.push(j),
                    Some(_) => {}
                    None => hidden += 1,
                }
            }
            edges.extend(to.into_iter().map(|j| json!([i, j])));
            let (x, y) = layout.nodes[i];
            json!({
                "seq": block.seq,
                "size": block.size,
                "retained": analysis.retained_bytes(b),
                "site": graph.site_name(graph.block_site(b)),
                "leak": leak_name(analysis.leak_class(b)),
                "hidden": hidden,
                "x": x,
                "y": y,
            })
        })
        .collect();
    let mut root_edges = Vec::new();
    let roots: Vec<Value> = sub
        .roots
        .iter()
        .enumerate()
        .map(|(k, &r)| {
            let root = graph.root(r);
            let mut to: Vec<usize> = Vec::new();
            for t in targets(graph, Holder::Root(r)) {
                if let Some(j) = sub.node(t) {
                    if !to.contains(&j) {
                        to.push(j);
                    }
                }
            }
            root_edges.extend(to.into_iter().map(|j| json!([k, j])));
            let (x, y) = layout.roots[k];
            json!({
                "name": root.display_name(),
                "kind": root.kind.label(),
                "x": x,
                "y": y,
            })
        })
        .collect();
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| json!({"scan": s.scanned, "grey": s.greyed}))
        .collect();
    json!({
        "title": title,
        "partial": sub.is_partial(),
        "width": layout.width,
        "height": layout.height,
        "node_width": NODE_W,
        "node_height": NODE_H,
        "leaked_x": layout.leaked_x,
        "roots": roots,
        "nodes": nodes,
        "edges": edges,
        "root_edges": root_edges,
        "steps": steps,
    })
}

/// `value` as JSON that is safe inside a `<script>` element and a
/// JavaScript string: `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes
/// (they only occur inside strings, where the escapes mean the same).
pub(crate) fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as HTML text or a quoted attribute value.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The page; `{{TITLE}}`, `{{NOTE}}` and `{{DATA}}` are filled in.
const TEMPLATE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_end_the_script() {
        let v = json!({"site": "</script><b>\"'\u{2028}\u{2029}&\u{1}"});
        let s = script_json(&v);
        assert_eq!(
            s,
            r#"{"site":"\u003c/script\u003e\u003cb\u003e\"'\u2028\u2029\u0026\u0001"}"#
        );
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
        assert_eq!(
            html_escape("a<b>&\"'\n"),
            "a&lt;b&gt;&amp;&quot;&#39;\u{fffd}"
        );
        assert_eq!(
            fill("<{{A}}|{{B}}|{{C}}>", &[("{{A}}", "{{B}}"), ("{{B}}", "b")]),
            "<{{B}}|b|{{C}}>"
        );
    }
}
