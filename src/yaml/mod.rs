//! The one module that knows YAML. Everything else sees [`Node`] trees.

mod emit;
mod node;
mod parse;
#[cfg(test)]
mod proptests;

pub use emit::{is_safe_plain, write_document};
pub use node::{
    Node, Resolved, Scalar, Style, TEMPLATED, Value, int_value, may_retype_plain, resolve_plain,
    yaml11_bool,
};
pub use parse::{Document, Limits, YamlError, parse_stream};

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
