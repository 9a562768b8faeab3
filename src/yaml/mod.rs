//! The one module that knows YAML. Everything else sees [`Node`] trees.

mod emit;
mod node;
mod parse;
#[cfg(test)]
mod proptests;
mod split;

pub use emit::{is_safe_plain, write_document, write_root_entry};
pub use node::{
    Node, Resolved, Scalar, Style, TEMPLATED, Value, int_value, may_retype_plain, resolve_plain,
    yaml11_bool,
};
pub use parse::{
    Copyable, Document, Limits, Offered, Place, Prune, Verbatim, YamlError, parse_stream,
    parse_stream_pruning,
};
#[doc(hidden)]
pub use split::agrees_with_one_reading;

/// Serializes documents as a `---`-separated stream.
pub fn write_stream(nodes: &[&Node]) -> String {
    let mut out = String::new();
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_document(&mut out, node);
    }
    out
}

/// Writes one item of a root key's block sequence (`items:`): the text it
/// was read from when it has some that fits there, else the node emitted.
pub fn write_seq_entry(out: &mut String, node: &Node, verbatim: Option<&Verbatim>, input: &str) {
    match fitting_text(node, verbatim, Place::SeqEntry, input) {
        Some(text) => {
            debug_assert_same(node, verbatim, &format!("- {text}"), |root| {
                root.as_seq()?.first()
            });
            out.push_str("- ");
            out.push_str(text);
        }
        None => emit::write_seq_entry(out, node),
    }
}

/// Writes one document body: the text it was read from when it has some
/// that fits there, else the node emitted.
pub fn write_document_from(
    out: &mut String,
    node: &Node,
    verbatim: Option<&Verbatim>,
    input: &str,
) {
    match fitting_text(node, verbatim, Place::Document, input) {
        Some(text) => {
            debug_assert_same(node, verbatim, text, |root| Some(root));
            out.push_str(text);
        }
        None => write_document(out, node),
    }
}

fn fitting_text<'a>(
    node: &Node,
    verbatim: Option<&Verbatim>,
    place: Place,
    input: &'a str,
) -> Option<&'a str> {
    let verbatim = verbatim?;
    let text = input.get(verbatim.range.clone());
    // A pruned tree written out would lose the fields cut from it. Readers
    // prune only where the answer has the place of the question (a list
    // item stays a list item), so this cannot happen; if it ever did, stop
    // rather than write a truncated object.
    assert!(
        !verbatim.pruned || (verbatim.place == place && text.is_some()),
        "internal error: {:?} would be written without the fields pruned from it",
        node.get("kind").and_then(Node::scalar_text)
    );
    text.filter(|_| verbatim.place == place)
}

/// Tests run debug builds: there, every copy is checked against the tree
/// (pruned the same way when it was), so a path that changes an item but
/// keeps its text fails loudly.
fn debug_assert_same(
    node: &Node,
    verbatim: Option<&Verbatim>,
    text: &str,
    pick: impl for<'a> Fn(&'a Node) -> Option<&'a Node>,
) {
    if cfg!(debug_assertions) {
        // The text was read once within the caller's limits.
        let unlimited = Limits {
            max_depth: usize::MAX / 2,
            max_scalar_bytes: usize::MAX,
            max_documents: usize::MAX,
            max_alias_nodes: usize::MAX,
        };
        let reread = parse_stream(text, &unlimited)
            .ok()
            .and_then(|docs| docs.into_iter().next()?.root);
        let mut copied = reread.as_ref().and_then(pick).cloned();
        if let (Some(copied), Some(v)) = (copied.as_mut(), verbatim)
            && v.pruned
        {
            prune_to_identity(copied);
        }
        assert_eq!(
            Some(to_string(node)),
            copied.as_ref().map(to_string),
            "verbatim text of a changed item"
        );
    }
}

/// What a pruned object keeps: what identifies it, with its labels and
/// annotations.
pub const IDENTITY_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

pub fn prune_to_identity(node: &mut Node) {
    if let Value::Map(entries, _) = &mut node.value {
        entries.retain(|(key, _)| {
            key.scalar_text()
                .is_some_and(|k| IDENTITY_FIELDS.contains(&k))
        });
        entries.shrink_to_fit();
    }
}

pub fn to_string(node: &Node) -> String {
    let mut out = String::new();
    write_document(&mut out, node);
    out
}

/// A JSON view of a node, for typed checks (k8s-openapi) and JSON Schema
/// lookups. Integers too large for 64 bits become floats; this view is never
/// written out.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Scalar(scalar) => match scalar.resolve() {
            Resolved::Null => J::Null,
            Resolved::Bool(b) => J::Bool(b),
            Resolved::Int(text) => int_value(text)
                .map(J::from)
                .unwrap_or_else(|| J::String(text.to_string())),
            Resolved::Float(text) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| J::String(text.to_string()), J::Number),
            Resolved::Str(text) => J::String(text.to_string()),
        },
        Value::Seq(items, _) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries, _) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// Builds a node from JSON we generate; strings are quoted only when needed.
pub fn from_json(value: &serde_json::Value) -> Node {
    use serde_json::Value as J;
    match value {
        J::Null => Node::plain("null"),
        J::Bool(b) => Node::bool(*b),
        J::Number(n) => Node::plain(n.to_string()),
        J::String(s) => Node::string(s.as_str()),
        J::Array(items) => Node::seq(items.iter().map(from_json).collect()),
        J::Object(map) => Node::new(Value::Map(
            map.iter()
                .map(|(k, v)| (Node::key(k), from_json(v)))
                .collect(),
            None,
        )),
    }
}

/// The first document of `text`, for tests.
#[cfg(test)]
pub fn parse_one(text: &str) -> Node {
    parse_stream(text, &Limits::default())
        .expect("valid YAML")
        .into_iter()
        .find_map(|d| d.root)
        .expect("a document")
}
