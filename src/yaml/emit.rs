//! [`Node`] → block-style YAML text. No anchors, no flow style except `[]`/`{}`.
//! Strings are quoted whenever a YAML 1.1 or 1.2 reader (kubectl's go-yaml v2,
//! kyaml's yaml.v3, PyYAML) could read them as anything but that string.

use super::node::{Node, Style, Value};

/// Writes one node as a document body (no `---`).
pub fn write_document(out: &mut String, node: &Node) {
    match &node.value {
        Value::Scalar(_) => {
            write_scalar(out, node, 0);
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

fn write_map(out: &mut String, entries: &[(Node, Node)], level: usize) {
    for (key, value) in entries {
        indent(out, level);
        write_scalar(out, key, level);
        out.push(':');
        write_value_after_indicator(out, value, level, true);
    }
}

fn write_seq(out: &mut String, items: &[Node], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        write_value_after_indicator(out, item, level, false);
    }
}

/// Writes what follows `key:` or `-`. Mapping values nest by two spaces;
/// a mapping inside a sequence starts on the dash line (`- a: 1`), as kubectl writes.
fn write_value_after_indicator(out: &mut String, value: &Node, level: usize, in_map: bool) {
    let tag = match &value.value {
        Value::Seq(_, tag) | Value::Map(_, tag) => tag.as_deref(),
        Value::Scalar(_) => None,
    };
    if is_empty(value) {
        out.push(' ');
        write_empty_collection(out, value);
        return;
    }
    match &value.value {
        Value::Scalar(_) => {
            out.push(' ');
            write_scalar(out, value, level);
            out.push('\n');
        }
        Value::Seq(items, _) => {
            if let Some(tag) = tag {
                out.push(' ');
                out.push_str(tag);
            }
            out.push('\n');
            // Sequences under a key are not indented further (kubectl style).
            let child = if in_map { level } else { level + 2 };
            write_seq(out, items, child);
        }
        Value::Map(entries, _) => {
            if let Some(tag) = tag {
                out.push(' ');
                out.push_str(tag);
                out.push('\n');
                write_map(out, entries, level + 2);
            } else if in_map {
                out.push('\n');
                write_map(out, entries, level + 2);
            } else {
                // `- key: value` then the other keys aligned under the first.
                out.push(' ');
                let mut first = true;
                for (key, val) in entries {
                    if !first {
                        indent(out, level + 2);
                    }
                    first = false;
                    write_scalar(out, key, level + 2);
                    out.push(':');
                    write_value_after_indicator(out, val, level + 2, true);
                }
            }
        }
    }
}

fn write_scalar(out: &mut String, node: &Node, level: usize) {
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if let Some(tag) = &scalar.tag {
        out.push_str(tag);
        out.push(' ');
    }
    let text = scalar.text.as_str();
    match scalar.style {
        // A plain scalar read from input means to every reader what it meant in
        // the input: write the same text (folded multi-line plain scalars only
        // keep a newline where the source had a blank line; quote those).
        Style::Plain if !text.contains('\n') && !text.is_empty() => out.push_str(text),
        Style::Plain if text.is_empty() && scalar.tag.is_none() => out.push_str("null"),
        Style::Literal | Style::Folded if literal_ok(text) => write_literal(out, text, level),
        Style::SingleQuoted if single_ok(text) => write_single(out, text),
        Style::SingleQuoted | Style::Literal | Style::Folded | Style::Plain => {
            write_double(out, text)
        }
        Style::DoubleQuoted => {
            if scalar.tag.is_none() && is_safe_plain(text) {
                out.push_str(text);
            } else {
                write_double(out, text);
            }
        }
    }
}

/// True when `text` written plain reads back as this same string under YAML
/// 1.1 and 1.2 in block context. Deliberately conservative.
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
    // `e3`-style or sexagesimal-looking texts never start with a letter, so
    // everything left reads as a string in every schema.
    true
}

fn single_ok(text: &str) -> bool {
    !text.contains('\n')
        && text
            .chars()
            .all(|c| !c.is_control() && !is_special_unicode(c))
        && !text.starts_with(' ')
        && !text.ends_with(' ')
}

fn literal_ok(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with([' ', '\t', '\n'])
        && text.trim_end_matches('\n').contains(|c: char| c != '\n')
        && text
            .chars()
            .all(|c| c == '\n' || (!c.is_control() && !is_special_unicode(c)))
        && text
            .split('\n')
            .all(|line| !line.ends_with([' ', '\t']) && !line.starts_with('\t'))
}

fn is_special_unicode(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn write_literal(out: &mut String, text: &str, level: usize) {
    let trailing = text.len() - text.trim_end_matches('\n').len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    let body = text.trim_end_matches('\n');
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level + 2);
            out.push_str(line);
        }
    }
    // Keep chomping: the extra newlines are part of the value.
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn write_single(out: &mut String, text: &str) {
    out.push('\'');
    out.push_str(&text.replace('\'', "''"));
    out.push('\'');
}

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
            c if c.is_control() || is_special_unicode(c) => {
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
        assert_eq!(out, "a: \"yes\"\nb: '0644'\nc: plain\nd: 0755\ne: \"\"\n");
    }

    #[test]
    fn nested_block_layout() {
        let out = round_trip("a:\n  b: [1, {c: d, e: []}]\n  f: {}\n");
        assert_eq!(out, "a:\n  b:\n  - 1\n  - c: d\n    e: []\n  f: {}\n");
    }

    #[test]
    fn literal_blocks_survive() {
        let text = "a: |\n  line1\n  line2\nb: |-\n  x\nc: |+\n  y\n\nd: 1\n";
        assert_eq!(round_trip(text), text);
        assert_eq!(round_trip(&round_trip(text)), text);
    }

    #[test]
    fn control_characters_are_escaped() {
        let out = round_trip("a: \"x\\u0001y\\u2028\"\n");
        assert_eq!(out, "a: \"x\\x01y\\u2028\"\n");
    }

    #[test]
    fn sequences_of_sequences() {
        let out = round_trip("a: [[1, 2], [3]]\n");
        assert_eq!(out, "a:\n-\n  - 1\n  - 2\n-\n  - 3\n");
        assert_eq!(round_trip(&out), out);
    }
}
