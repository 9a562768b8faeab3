//! [`Node`] → YAML text: block style, and flow style only where the author
//! wrote it (`[a, b]`, `{k: v}`, kept so that kpt does not reformat files).
//! No anchors.
//!
//! Every line written means the same to YAML 1.1 readers (PyYAML, hence
//! Polyaxon; go-yaml v2, hence kubectl) and YAML 1.2 readers (kyaml's yaml.v3,
//! hence kustomize and kpt; this crate):
//! - a plain scalar read from input is written as it came (a plain `0755` stays
//!   plain), unless plain text cannot carry it the same way to every reader
//!   (line breaks, U+2028, NEL, control characters): then it is double-quoted;
//! - a double-quoted string stays double-quoted; a single-quoted one stays
//!   single-quoted when it can; a string we generate ([`Node::string`]) is
//!   written plain only when [`is_safe_plain`] says no reader can retype it;
//! - block scalars stay block scalars (`|`, with an indentation indicator when
//!   the text starts with a space) when every line can be written as is;
//! - everything else is double-quoted on one line, with escapes both YAML
//!   versions read the same way, and any character outside YAML's printable set
//!   escaped;
//! - mapping keys are never block scalars, and a key too long for an implicit
//!   key (YAML 1.1 readers stop at 1024 characters) is written as `? key`.

use super::node::{Node, Style, Value, may_retype_plain};

/// Keys longer than this (in characters, tag included) are written explicitly
/// (`? key` / `: value`): libyaml, go-yaml and PyYAML reject implicit keys
/// over 1024 characters.
const MAX_IMPLICIT_KEY_CHARS: usize = 1000;

/// Writes one node as a document body (no `---`).
pub fn write_document(out: &mut String, node: &Node) {
    if is_flow(node) {
        write_flow(out, node);
        out.push('\n');
        return;
    }
    match &node.value {
        Value::Scalar(_) => {
            write_scalar(out, node, Place::Root);
            out.push('\n');
        }
        _ if is_empty(node) => {
            write_empty_collection(out, node);
        }
        Value::Seq(items, tag) => {
            if let Some(tag) = tag {
                out.push_str(tag);
                out.push('\n');
            }
            write_seq(out, items, 0);
        }
        Value::Map(entries, tag) => {
            if let Some(tag) = tag {
                out.push_str(tag);
                out.push('\n');
            }
            write_map(out, entries, 0);
        }
    }
}

/// Writes `key: value` at column 0, as one entry of a root mapping.
pub fn write_root_entry(out: &mut String, key: &str, value: &Node) {
    write_entry(out, &Node::key(key), value, 0);
}

/// Writes `- value`, one item of a block sequence at column 0 (the value of
/// a root key, as `items:` is), the way [`write_document`] would.
pub fn write_seq_entry(out: &mut String, node: &Node) {
    out.push('-');
    write_value_after_indicator(out, node, 0, After::Dash);
}

/// Where a scalar goes: block scalars and explicit keys depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The document root (column 0; indentation indicators mean different
    /// things to libyaml and the YAML spec there, so none are written).
    Root,
    /// A mapping value or sequence item whose parent indicator is at this column.
    Value(usize),
    /// A mapping key: one line, never a block scalar.
    Key,
}

fn write_empty_collection(out: &mut String, node: &Node) {
    let (tag, text) = match &node.value {
        Value::Seq(_, tag) => (tag, "[]\n"),
        Value::Map(_, tag) => (tag, "{}\n"),
        Value::Scalar(_) => return,
    };
    if let Some(tag) = tag {
        out.push_str(tag);
        out.push(' ');
    }
    out.push_str(text);
}

fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Seq(items, _) => items.is_empty(),
        Value::Map(entries, _) => entries.is_empty(),
        Value::Scalar(_) => false,
    }
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The key as it will be written, and whether it must be an explicit `? key`.
fn render_key(key: &Node) -> (String, bool) {
    let mut text = String::new();
    write_scalar(&mut text, key, Place::Key);
    let explicit = text.chars().count() > MAX_IMPLICIT_KEY_CHARS;
    (text, explicit)
}

fn write_map(out: &mut String, entries: &[(Node, Node)], level: usize) {
    for (key, value) in entries {
        indent(out, level);
        write_entry(out, key, value, level);
    }
}

/// Writes `key: value` (or the explicit form) with the key at column `level`;
/// the indentation of the first line is already written.
fn write_entry(out: &mut String, key: &Node, value: &Node, level: usize) {
    let (key_text, explicit) = render_key(key);
    if explicit {
        out.push_str("? ");
        out.push_str(&key_text);
        out.push('\n');
        indent(out, level);
        out.push(':');
        write_value_after_indicator(out, value, level, After::ExplicitValue);
    } else {
        out.push_str(&key_text);
        out.push(':');
        write_value_after_indicator(out, value, level, After::Key);
    }
}

fn write_seq(out: &mut String, items: &[Node], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        write_value_after_indicator(out, item, level, After::Dash);
    }
}

/// The indicator a value follows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// `key:`
    Key,
    /// `:` under an explicit `? key`
    ExplicitValue,
    /// `-`
    Dash,
}

/// Writes what follows `key:`, `:` or `-` (the indicator at column `level`).
/// Mapping values nest by two spaces; a sequence under an implicit key is not
/// indented further, and a mapping inside a sequence starts on the dash line
/// (`- a: 1`), as kubectl writes.
fn write_value_after_indicator(out: &mut String, value: &Node, level: usize, after: After) {
    let tag = match &value.value {
        Value::Seq(_, tag) | Value::Map(_, tag) => tag.as_deref(),
        Value::Scalar(_) => None,
    };
    if is_empty(value) {
        out.push(' ');
        write_empty_collection(out, value);
        return;
    }
    if is_flow(value) {
        out.push(' ');
        write_flow(out, value);
        out.push('\n');
        return;
    }
    match &value.value {
        Value::Scalar(_) => {
            out.push(' ');
            write_scalar(out, value, Place::Value(level));
            out.push('\n');
        }
        Value::Seq(items, _) => {
            if let Some(tag) = tag {
                out.push(' ');
                out.push_str(tag);
            }
            out.push('\n');
            let child = if after == After::Key {
                level
            } else {
                level + 2
            };
            write_seq(out, items, child);
        }
        Value::Map(entries, _) => {
            let compact = after == After::Dash
                && tag.is_none()
                && entries.first().is_some_and(|(key, _)| !render_key(key).1);
            if compact {
                // `- key: value` then the other keys aligned under the first.
                out.push(' ');
                for (i, (key, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        indent(out, level + 2);
                    }
                    write_entry(out, key, val, level + 2);
                }
            } else {
                if let Some(tag) = tag {
                    out.push(' ');
                    out.push_str(tag);
                }
                out.push('\n');
                write_map(out, entries, level + 2);
            }
        }
    }
}

/// A collection the author wrote in flow style (`[a, b]`, `{k: v}`).
fn is_flow(node: &Node) -> bool {
    node.flow && !matches!(node.value, Value::Scalar(_)) && !is_empty(node)
}

/// Writes a collection in flow style, on one line; nested collections too.
fn write_flow(out: &mut String, node: &Node) {
    match &node.value {
        Value::Scalar(_) => write_flow_scalar(out, node),
        Value::Seq(items, tag) => {
            if let Some(tag) = tag {
                out.push_str(tag);
                out.push(' ');
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, item);
            }
            out.push(']');
        }
        Value::Map(entries, tag) => {
            if let Some(tag) = tag {
                out.push_str(tag);
                out.push(' ');
            }
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let mut key_text = String::new();
                write_flow_scalar(&mut key_text, key);
                if key_text.chars().count() > MAX_IMPLICIT_KEY_CHARS {
                    out.push_str("? ");
                }
                out.push_str(&key_text);
                out.push_str(": ");
                write_flow(out, value);
            }
            out.push('}');
        }
    }
}

/// A scalar inside a flow collection: plain only without flow indicators.
fn write_flow_scalar(out: &mut String, node: &Node) {
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    let text = scalar.text.as_str();
    let flow_plain = |t: &str| plain_ok(t) && !t.contains([',', '[', ']', '{', '}']);
    if scalar.tag.as_deref() == Some(super::node::TEMPLATED) {
        out.push_str(text);
        return;
    }
    if let Some(tag) = &scalar.tag {
        out.push_str(tag);
        out.push(' ');
    }
    match scalar.style {
        Style::Plain if text.is_empty() && scalar.tag.is_none() => out.push_str("null"),
        Style::Plain if flow_plain(text) => out.push_str(text),
        Style::SingleQuoted if single_ok(text) => write_single(out, text),
        Style::Auto if scalar.tag.is_none() && is_safe_plain(text) && flow_plain(text) => {
            out.push_str(text)
        }
        _ => write_double(out, text),
    }
}

fn write_scalar(out: &mut String, node: &Node, place: Place) {
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if scalar.tag.as_deref() == Some(super::node::TEMPLATED) {
        // Our own marker: the value is written as the plain number or boolean it is.
        let plain = Node::plain(scalar.text.clone());
        return write_scalar(out, &plain, place);
    }
    if let Some(tag) = &scalar.tag {
        out.push_str(tag);
        out.push(' ');
    }
    let text = scalar.text.as_str();
    match scalar.style {
        // A plain scalar means to every reader what it meant in the input:
        // write the same text, as long as plain text can carry it.
        Style::Plain if text.is_empty() && scalar.tag.is_none() => out.push_str("null"),
        Style::Plain if plain_ok(text) => out.push_str(text),
        Style::Literal | Style::Folded if literal_indicator(text, place).is_some() => {
            write_literal(out, text, place);
        }
        Style::SingleQuoted if single_ok(text) => write_single(out, text),
        // The author's double quotes stay (a file re-written by kpt keeps them).
        Style::DoubleQuoted => write_double(out, text),
        // Generated strings, and whatever cannot keep its style: plain when
        // no reader can retype it, else double-quoted. (Writing it again
        // gives the same text.)
        Style::Auto | Style::Plain | Style::SingleQuoted | Style::Literal | Style::Folded => {
            if scalar.tag.is_none() && is_safe_plain(text) {
                out.push_str(text);
            } else {
                write_double(out, text);
            }
        }
    }
}

/// True when `text` written plain reads back as this same string under YAML
/// 1.1 and 1.2 in block context (as a value or a key, any indentation).
/// Deliberately conservative.
pub fn is_safe_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if text.len() > 200 {
        return false;
    }
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if text.ends_with(' ') || text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    if !text.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '-' | '_' | '.' | '/' | ':' | '=' | '+' | '@' | ',' | '(' | ')'
            )
    }) {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "nan" | "inf"
    ) {
        return false;
    }
    // `e3`-style or sexagesimal-looking texts never start with a letter, but
    // check with the resolver anyway.
    !may_retype_plain(text)
}

/// Whether `text` (taken from a plain scalar) can be written plain again and
/// be read back as the same text by YAML 1.1 and 1.2 readers in block
/// context. Plain scalars from the parser always pass unless they hold
/// characters that YAML 1.1 reads as line breaks or that need escaping; plain
/// nodes built in code pass when they are valid plain scalars.
fn plain_ok(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let second = chars.next();
    let blank = |c: Option<char>| matches!(c, None | Some(' ' | '\t'));
    if first.is_whitespace() || text.ends_with(char::is_whitespace) {
        return false;
    }
    if "\",[]{}#&*!|>'%@`".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && blank(second) {
        return false;
    }
    // Document markers, in case the scalar ends up at column 0.
    if (text.starts_with("---") || text.starts_with("...")) && blank(text[3..].chars().next()) {
        return false;
    }
    if text.ends_with(':')
        || text.contains(": ")
        || text.contains(":\t")
        || text.contains(" #")
        || text.contains("\t#")
    {
        return false;
    }
    text.chars()
        .all(|c| c == '\t' || (c != '\n' && c != '\r' && printable(c)))
}

/// Characters that may appear unescaped in a quoted scalar or block scalar
/// for every reader: YAML's printable set (the same in 1.1 and 1.2) less
/// control characters, the characters YAML 1.1 reads as line breaks (NEL,
/// U+2028, U+2029) and the byte order mark.
fn printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        ))
}

fn single_ok(text: &str) -> bool {
    text.chars().all(printable) && !text.starts_with(' ') && !text.ends_with(' ')
}

/// How a block scalar holding `text` starts (`|`, `|-`, `|+`, `|2-`, …), or
/// None when it cannot be written as one. Lines are written as they are, so
/// none may end in white space (editors and linters strip it) or hold a
/// character that would need escaping; a text starting with a space or a line
/// break gets an explicit indentation indicator, which is not used at the
/// document root (libyaml and the YAML spec disagree on its meaning there).
fn literal_indicator(text: &str, place: Place) -> Option<String> {
    if place == Place::Key {
        return None;
    }
    let body = text.trim_end_matches('\n');
    if body.is_empty() || body.starts_with('\t') {
        return None;
    }
    if !body.chars().all(|c| c == '\n' || c == '\t' || printable(c)) {
        return None;
    }
    if body
        .split('\n')
        .any(|line| line.ends_with([' ', '\t']) || line.starts_with('\t'))
    {
        return None;
    }
    let needs_indicator = body.starts_with([' ', '\n']);
    if needs_indicator && place == Place::Root {
        return None;
    }
    let trailing = text.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    Some(format!(
        "|{}{chomp}",
        if needs_indicator { "2" } else { "" }
    ))
}

fn write_literal(out: &mut String, text: &str, place: Place) {
    let Some(indicator) = literal_indicator(text, place) else {
        return write_double(out, text);
    };
    let level = match place {
        Place::Value(level) => level,
        Place::Root | Place::Key => 0,
    };
    out.push_str(&indicator);
    let body = text.trim_end_matches('\n');
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level + 2);
            out.push_str(line);
        }
    }
    // Keep chomping: the extra newlines are part of the value.
    let trailing = text.len() - body.len();
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn write_single(out: &mut String, text: &str) {
    out.push('\'');
    out.push_str(&text.replace('\'', "''"));
    out.push('\'');
}

/// Writes a double-quoted scalar on one line. Only escapes that YAML 1.1 and
/// 1.2 both define are used.
pub fn write_double(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if !printable(c) => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::parse::{Limits, parse_stream};
    use super::*;

    fn parse_one(text: &str) -> Node {
        let docs = parse_stream(text, &Limits::default()).expect("parses");
        docs.into_iter()
            .next()
            .and_then(|d| d.root)
            .expect("one document")
    }

    fn round_trip(text: &str) -> String {
        let docs = parse_stream(text, &Limits::default()).expect("parses");
        let mut out = String::new();
        for doc in &docs {
            if let Some(root) = &doc.root {
                write_document(&mut out, root);
            }
        }
        out
    }

    #[test]
    fn keeps_quoting_of_retypable_strings() {
        let out = round_trip("a: \"yes\"\nb: '0644'\nc: \"plain\"\nd: 0755\ne: \"\"\n");
        assert_eq!(
            out,
            "a: \"yes\"\nb: '0644'\nc: \"plain\"\nd: 0755\ne: \"\"\n"
        );
    }

    #[test]
    fn nested_block_layout() {
        let out =
            round_trip("a:\n  b:\n  - 1\n  - {c: d, e: []}\n  f: {}\n  g:\n  - c: d\n    e: []\n");
        assert_eq!(
            out,
            "a:\n  b:\n  - 1\n  - {c: d, e: []}\n  f: {}\n  g:\n  - c: d\n    e: []\n"
        );
    }

    #[test]
    fn flow_style_is_kept() {
        let text = "a: [1, \"x, y\", {k: 'v'}, [b]]\nc: {d: \"yes\", e: plain}\n";
        assert_eq!(round_trip(text), text);
        // Flow indicators and block scalars inside flow collections are quoted.
        let out = round_trip("a: [\"x,y\", \"[z]\"]\nb:\n  - |\n    l\n");
        assert_eq!(out, "a: [\"x,y\", \"[z]\"]\nb:\n- |\n  l\n");
    }

    #[test]
    fn literal_blocks_survive() {
        let text = "a: |\n  line1\n  line2\nb: |-\n  x\nc: |+\n  y\n\nd: 1\n";
        assert_eq!(round_trip(text), text);
        assert_eq!(round_trip(&round_trip(text)), text);
    }

    #[test]
    fn literal_blocks_starting_with_a_space_keep_their_style() {
        let text = "a: |2\n    indented\n  normal\nb:\n- |2-\n\n   x\n";
        assert_eq!(round_trip(text), text);
        let root = parse_one(text);
        assert_eq!(
            root.get("a").and_then(Node::as_str),
            Some("  indented\nnormal\n")
        );
        // At the root an indentation indicator means different things to
        // libyaml and to the spec: quote instead.
        assert_eq!(round_trip("--- |2\n   x\n"), "\" x\\n\"\n");
    }

    #[test]
    fn block_scalar_keys_are_quoted() {
        let out = round_trip("? |\n  k\n: v\n? >-\n  f\n: w\n");
        assert_eq!(out, "\"k\\n\": v\nf: w\n");
        let root = parse_one(&out);
        assert_eq!(root.get("k\n").and_then(Node::as_str), Some("v"));
    }

    #[test]
    fn control_characters_are_escaped() {
        let out = round_trip("a: \"x\\u0001y\\u2028\\uFFFE\"\n");
        assert_eq!(out, "a: \"x\\x01y\\u2028\\ufffe\"\n");
    }

    #[test]
    fn plain_scalars_with_yaml11_line_breaks_are_quoted() {
        // YAML 1.2 reads NEL and U+2028 as ordinary characters in a plain
        // scalar; YAML 1.1 readers see a line break.
        let out = round_trip("a: x\u{2028}y\nb: x\u{85}y\nc: x\ty\n");
        assert_eq!(out, "a: \"x\\u2028y\"\nb: \"x\\x85y\"\nc: x\ty\n");
    }

    #[test]
    fn sequences_of_sequences() {
        let out = round_trip("a:\n- - 1\n  - 2\n- - 3\n");
        assert_eq!(out, "a:\n-\n  - 1\n  - 2\n-\n  - 3\n");
        assert_eq!(round_trip(&out), out);
    }

    #[test]
    fn long_keys_are_explicit() {
        let long = "k".repeat(1500);
        let mut inner = Node::map();
        inner.set(&long, Node::seq(vec![Node::int(1)]));
        inner.set("x", Node::int(2));
        let mut nested = Node::map();
        nested.set(&long, inner.clone());
        let mut root = Node::map();
        root.set(&long, Node::string("v"));
        root.set("list", Node::seq(vec![inner, nested]));
        let out = to_text(&root);
        let expected = format!(
            "? {q}\n: v\nlist:\n-\n  ? {q}\n  :\n    - 1\n  x: 2\n-\n  ? {q}\n  :\n    ? {q}\n    :\n      - 1\n    x: 2\n",
            q = format!("\"{long}\"")
        );
        assert!(out == expected, "{}", out.replace(&long, "K"));
        let parsed = parse_one(&out);
        assert_eq!(parsed.get(&long).and_then(Node::as_str), Some("v"));
        let first = parsed
            .get_path(&["list"])
            .and_then(Node::as_seq)
            .expect("list");
        assert_eq!(first[0].get("x").and_then(Node::scalar_text), Some("2"));
        assert_eq!(
            first[1]
                .get(&long)
                .and_then(|n| n.get("x"))
                .and_then(Node::scalar_text),
            Some("2")
        );
        assert!(to_text(&parsed) == out);
    }

    #[test]
    fn long_keys_in_flow_mappings_are_explicit() {
        // A multi-line key is fine as input, but written on one line it outgrows
        // the 1024-character limit of an implicit key.
        let long = "k\n".repeat(600);
        let mut inner = Node::map();
        inner.set(&long, Node::int(1));
        inner.set("b", Node::seq(vec![Node::int(2)]));
        inner.flow = true;
        let mut root = Node::map();
        root.set("a", inner);
        let out = to_text(&root);
        assert!(out.starts_with("a: {? \""), "{out}");
        let parsed = parse_one(&out);
        assert_eq!(
            parsed
                .get("a")
                .and_then(|m| m.get(&long))
                .and_then(Node::scalar_text),
            Some("1")
        );
        assert_eq!(round_trip(&out), out);
    }

    #[test]
    fn tags_are_kept() {
        let text = "a: !!binary |\n  aGVs\n  bG8=\nb: !!str 123\nc: !custom\n  x: 1\nd: !!set {}\ne: ! 12\n";
        assert_eq!(round_trip(text), text);
    }

    fn to_text(node: &Node) -> String {
        let mut out = String::new();
        write_document(&mut out, node);
        out
    }
}
